package tfc_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/tfkit/tfc"
)

func ExampleClient_Do() {
	// A stand-in for HCP Terraform serving the projects API, which tfc does not wrap.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v2/organizations/my-org/projects", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"data":[{"id":"prj-AwfuCJTkdai4xj9w","type":"projects","attributes":{"name":%q}}]}`,
			r.URL.Query().Get("filter[names]"))
	})
	mux.HandleFunc("POST /api/v2/organizations/my-org/projects", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"data":{"id":"prj-WsVcWRr7SSxRqTCj","type":"projects","attributes":{"name":"payments"}}}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client, err := tfc.NewClient(tfc.WithAddress(srv.URL), tfc.WithToken("an-api-token"))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// The documents are yours to shape; tfc sends and decodes them with encoding/json.
	type project struct {
		ID         string `json:"id"`
		Type       string `json:"type"`
		Attributes struct {
			Name string `json:"name"`
		} `json:"attributes"`
	}
	var list struct {
		Data []project `json:"data"`
	}
	_, err = client.Do(ctx, tfc.RawRequest{
		Method: http.MethodGet,
		Path:   "organizations/my-org/projects",
		Query:  url.Values{"filter[names]": {"networking"}},
	}, &list)
	if err != nil {
		log.Fatal(err) // an *APIError for a non-2xx answer, after the usual retries
	}
	fmt.Println(list.Data[0].ID, list.Data[0].Attributes.Name)

	var created struct {
		Data project `json:"data"`
	}
	newProject := map[string]any{"data": map[string]any{"type": "projects", "attributes": map[string]any{"name": "payments"}}}
	resp, err := client.Do(ctx, tfc.RawRequest{Method: http.MethodPost, Path: "organizations/my-org/projects", Body: newProject}, &created)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, created.Data.ID)
	// Output:
	// prj-AwfuCJTkdai4xj9w networking
	// 201 prj-WsVcWRr7SSxRqTCj
}
