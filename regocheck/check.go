package regocheck

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tfkit/tfc"
)

// Check judges a run task delivery with the policies: it is a tfc.CheckFunc, for
// tfc.NewReceiver(policies.Check, …).
//
// A delivery without a plan (pre_plan) passes, saying so. Any delivery with a plan
// URL (Delivery.HasPlan) is judged: post_plan, pre_apply and post_apply, and the 2021
// format, which has no stage at all. Check reads the plan with Delivery.DecodePlan
// (GET plan_json_api_url with the delivery's token, then the blob store without it),
// under the receiver's guards: at most tfc.WithMaxPlanBytes of plan JSON, and one of
// the tfc.WithMaxConcurrentPlans slots while it is decoded (ReadPlan). It then returns
// Result.
//
// Any error is returned, so that the receiver fails the task result with its generic
// message and logs the error, which never quotes the plan: the plan cannot be fetched
// or decoded, it is larger than the cap (the error matches tfc.ErrPlanTooLarge, and
// the plan is not evaluated), or a rule fails to evaluate.
func (p *Policies) Check(ctx context.Context, d *tfc.Delivery) (tfc.TaskResultUpdate, error) {
	if !d.HasPlan() {
		return tfc.Passed(fmt.Sprintf("No plan yet at %s: nothing to check.", d.Request.Stage)), nil
	}
	var plan *Plan
	err := d.DecodePlan(ctx, func(r io.Reader) error {
		var err error
		plan, err = ReadPlan(r)
		return err
	})
	if errors.Is(err, tfc.ErrPlanTooLarge) {
		return tfc.TaskResultUpdate{}, fmt.Errorf("regocheck: the plan is larger than the receiver's cap (tfc.WithMaxPlanBytes), so it was not evaluated: %w", err)
	}
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	return p.Result(ctx, plan)
}

// Result evaluates plan (see Evaluate) and makes the task result with tfc.Report:
// failed when any deny or violation message is not covered by an exception, passed
// otherwise; one outcome per message, errors first; a message that counts them,
// names the first few and ends with the plan's summary line.
func (p *Policies) Result(ctx context.Context, plan *Plan) (tfc.TaskResultUpdate, error) {
	findings, err := p.Evaluate(ctx, plan)
	if err != nil {
		return tfc.TaskResultUpdate{}, err
	}
	summary := plan.Summary()
	return tfc.Report{Findings: findings, Summary: &summary}.Result(), nil
}
