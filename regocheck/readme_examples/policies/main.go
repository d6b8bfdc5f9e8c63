package main

import (
	"log"
	"net/http"
	"os"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/regocheck"
)

func main() {
	// Every .rego file under ./policy, compiled once: a policy that does not compile
	// stops the server here, with its file and line.
	policies, err := regocheck.Load("policy")
	if err != nil {
		log.Fatal(err)
	}
	receiver, err := tfc.NewReceiver(policies.Check,
		tfc.WithHMACKeys(tfc.Secret(os.Getenv("RUN_TASK_HMAC_KEY"))),
		tfc.WithAllowedHosts("app.terraform.io"),
	)
	if err != nil {
		log.Fatal(err)
	}
	http.Handle("/run-task", receiver)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
