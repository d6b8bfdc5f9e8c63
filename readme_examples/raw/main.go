package main

import (
	"context"
	"fmt"
	"log"
	"net/url"

	"github.com/tfkit/tfc"
)

func main() {
	ctx := context.Background()
	client, err := tfc.NewClient(tfc.FromEnv())
	if err != nil {
		log.Fatal(err)
	}

	// GET /api/v2/organizations/my-org/projects?filter[names]=networking, an endpoint
	// tfc does not wrap, with the client's token, ceiling, retries and errors.
	var projects struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_, err = client.Do(ctx, tfc.RawRequest{
		Method: "GET",
		Path:   "organizations/my-org/projects",
		Query:  url.Values{"filter[names]": {"networking"}},
	}, &projects)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(projects.Data)
}
