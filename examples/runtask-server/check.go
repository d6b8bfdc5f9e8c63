package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/tfkit/tfc"
	"github.com/tfkit/tfc/examples/internal/deletionguard"
	"github.com/tfkit/tfc/regocheck"
)

// chooseCheck returns the check the server runs and its name for the logs: the
// deletion guard, or, with a policy directory, the Rego policies in it, compiled once
// here. A policy that does not compile stops the server before it listens, with the
// file and line of each problem.
func chooseCheck(policyDir string, logger *slog.Logger) (tfc.CheckFunc, string, error) {
	if policyDir == "" {
		return deletionguard.Check, "deletion guard", nil
	}
	policies, err := regocheck.Load(policyDir)
	if err != nil {
		return nil, "", fmt.Errorf("-policy %s: %w", policyDir, err)
	}
	logger.Info("policies loaded", "dir", policyDir, "files", policies.Files(), "rules", strings.Join(policies.Rules(), ","))
	return policies.Check, "rego policies in " + policyDir, nil
}
