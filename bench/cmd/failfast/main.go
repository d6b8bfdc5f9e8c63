// Command failfast measures how long a misaddressed client takes to fail with its
// default retry policy: an address whose host does not resolve (a typo in
// TFE_ADDRESS), and a loopback port nobody listens on (a CTS daemon that is not
// running), for tfc's API and CTS clients and for go-tfe.
//
//	cd bench && go run ./cmd/failfast
//
// It needs no network: *.invalid never resolves (RFC 6761), and the port is on
// loopback.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	tfe "github.com/hashicorp/go-tfe"
	"github.com/tfkit/tfc"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	const unresolvable = "https://tfe.example.invalid"
	ctx := context.Background()

	readRunTask := func(address string) func() error {
		return func() error {
			c, err := tfc.NewClient(tfc.WithAddress(address), tfc.WithToken("t"))
			if err != nil {
				return err
			}
			_, err = c.RunTasks.Read(ctx, "task-1", nil)
			return err
		}
	}
	measure("tfc, host does not resolve", readRunTask(unresolvable))
	measure("tfc, port closed", readRunTask(closed))
	measure("tfc CTS, port closed", func() error {
		c, err := tfc.NewCTSClient(tfc.WithCTSAddress(closed))
		if err != nil {
			return err
		}
		_, err = c.Tasks.List(ctx)
		return err
	})
	for name, addr := range map[string]string{"go-tfe, host does not resolve": unresolvable, "go-tfe, port closed": closed} {
		measure(name, func() error {
			// go-tfe calls the service in NewClient; the read after it is what tfc's
			// measurement makes.
			c, err := tfe.NewClient(&tfe.Config{Address: addr, Token: "t", RetryServerErrors: true})
			if err != nil {
				return err
			}
			_, err = c.RunTasks.Read(ctx, "task-1")
			return err
		})
	}
}

func measure(name string, call func() error) {
	start := time.Now()
	err := call()
	fmt.Printf("%-32s %6.2f s  %v\n", name, time.Since(start).Seconds(), err)
}
