package tfc

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"time"
)

// Admission keeps apart what the receiver accepts and what it runs: an accepted
// delivery waits in a pending queue, bounded by number and bytes, until one of the
// WithMaxInFlight check slots is free. A burst is absorbed rather than refused; 503
// comes only when the pending bound is reached.

type admission int

const (
	admitNew admission = iota
	admitDuplicate
	admitClosing
	admitFull
	// admitSubmitting: the same task result is being handed to the executor by
	// another request, which may yet fail; this one is answered 503 so that the
	// service asks again once the first has been stored or refused.
	admitSubmitting
)

// seenDelivery is what the receiver remembers of a task result it accepted.
type seenDelivery struct {
	until time.Time // a new delivery before then is a duplicate; inFlight while it runs here
	sum   uint64    // maphash of the body, to notice a duplicate that differs
}

// inFlight marks a task result that is pending or running in this process.
var inFlight = time.Unix(1<<62, 0)

// submitting marks a task result that a request is handing to the executor: it is
// not acknowledged yet, so a repeat must not be answered 200 as a duplicate.
var submitting = time.Unix(1<<62, 1)

// maxSeen bounds the task results remembered for the duplicate check. Past it, the
// finished ones are forgotten early; a replay of one then runs again, and its final
// callback meets the service's 409.
const maxSeen = 1 << 17

// admit accepts an in-process delivery: unless it is a duplicate, the receiver is
// closing or the pending bound is reached, it is remembered as in flight, counted in
// lives under the lock Shutdown takes (so Shutdown never misses it), and started at
// once if a check slot is free or queued otherwise. weight is the bytes of its body;
// a queued delivery holds them against the pending byte bound until it starts, and
// admit says whether it was queued. The delivery is built (its contexts, its heartbeat
// timer) before the lock is taken, which is held only for the bookkeeping: under a
// burst, every handler passes through it.
func (r *Receiver) admit(rt *RunTaskRequest, sum uint64, weight int64, log *slog.Logger) (a admission, queued bool) {
	d := r.newDelivery(r.parentContext(rt.TaskResultID), rt, r.now(), log)
	d.tracked = true
	a, start := r.admitLocked(d, sum, weight)
	switch {
	case a != admitNew:
		d.discard()
	case start:
		go r.work(d)
	}
	return a, a == admitNew && !start
}

func (r *Receiver) admitLocked(d *Delivery, sum uint64, weight int64) (admission, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := d.Request.TaskResultID
	if a := r.checkSeenLocked(id, sum, d.log); a != admitNew {
		return a, false
	}
	// Besides the queue, the deliveries whose checks are done but whose final results
	// are still being reported (to a slow or failing service) count against the bound.
	if r.unfinished >= r.maxPending+r.maxInFlight {
		return admitFull, false
	}
	start := false
	select {
	case r.slots <- struct{}{}:
		start = true
	default:
		if r.pending.len() >= r.maxPending {
			return admitFull, false
		}
	}
	r.unfinished++
	r.seen[id] = seenDelivery{until: inFlight, sum: sum}
	r.lives.Add(1)
	if !start {
		d.weight = weight
		r.pending.push(d)
	}
	return admitNew, start
}

// parentContext is the context a delivery of task result id derives from: one of the
// receiver's shards, all cancelled when Shutdown gives up.
func (r *Receiver) parentContext(id string) context.Context {
	return r.shardCtxs[maphash.String(r.seed, id)%uint64(len(r.shardCtxs))]
}

// remember records a delivery handed to the executor, for the duplicate window.
func (r *Receiver) remember(id string, sum uint64, log *slog.Logger) admission {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a := r.checkSeenLocked(id, sum, log); a != admitNew {
		return a
	}
	r.seen[id] = seenDelivery{until: submitting, sum: sum}
	return admitNew
}

// submitted starts the duplicate window of a task result the executor stored.
func (r *Receiver) submitted(id string) {
	r.mu.Lock()
	if e, ok := r.seen[id]; ok {
		e.until = r.now().Add(r.dedupeWindow)
		r.seen[id] = e
	}
	r.mu.Unlock()
}

// checkSeenLocked reports a closing receiver or a duplicate (logging a duplicate whose
// body differs), and keeps the memory of seen task results bounded.
func (r *Receiver) checkSeenLocked(id string, sum uint64, log *slog.Logger) admission {
	if r.closing {
		return admitClosing
	}
	now := r.now()
	if e, ok := r.seen[id]; ok && e.until == submitting {
		return admitSubmitting
	} else if ok && now.Before(e.until) {
		if e.sum != sum {
			log.Warn("tfc: a repeated delivery of this task result carries a different body; acknowledged and not run again")
		}
		return admitDuplicate
	}
	if len(r.seen) > 2*r.seenPruneSize+64 {
		for k, e := range r.seen {
			if !now.Before(e.until) {
				delete(r.seen, k)
			}
		}
		for k, e := range r.seen {
			if len(r.seen) < maxSeen {
				break
			}
			if e.until != inFlight && e.until != submitting {
				delete(r.seen, k)
			}
		}
		r.seenPruneSize = len(r.seen)
	}
	return admitNew
}

// forget undoes remember for a delivery the executor did not take.
func (r *Receiver) forget(id string) {
	r.mu.Lock()
	delete(r.seen, id)
	r.mu.Unlock()
}

// finished starts the duplicate window of a task result that ran here, and stops
// counting it as unfinished.
func (r *Receiver) finished(id string) {
	r.mu.Lock()
	r.unfinished--
	if e, ok := r.seen[id]; ok {
		e.until = r.now().Add(r.dedupeWindow)
		r.seen[id] = e
	}
	r.mu.Unlock()
}

// work runs a delivery that holds a check slot.
func (r *Receiver) work(d *Delivery) {
	r.held.Add(-d.weight) // out of the queue
	r.runDelivery(d, true)
}

// releaseSlot hands a check slot to the next waiting delivery, which it returns, or
// frees it.
func (r *Receiver) releaseSlot(id string) *Delivery {
	r.mu.Lock()
	next := r.pending.pop()
	if next == nil {
		<-r.slots
	}
	r.mu.Unlock()
	if r.afterRun != nil {
		r.afterRun(id)
	}
	return next
}

// handOn releases the slot of a check once the check has returned, which may be after
// its final result when it overran and ignored its context, and starts the next
// waiting delivery on it. The final callback of a delivery does not hold its slot, so
// a slow or failing service does not slow the checks.
func (r *Receiver) handOn(id string, checkReturned <-chan struct{}) {
	select {
	case <-checkReturned:
		if next := r.releaseSlot(id); next != nil {
			go r.work(next)
		}
	default:
		go func() {
			<-checkReturned
			if next := r.releaseSlot(id); next != nil {
				r.work(next)
			}
		}()
	}
}

// shutdownWorkers bounds the goroutines that report the failed results of waiting
// deliveries when Shutdown gives up.
const shutdownWorkers = 16

// failPending takes every delivery still waiting off the queue and reports it failed
// (its context is already cancelled), a few at a time.
func (r *Receiver) failPending() {
	r.mu.Lock()
	waiting := r.pending.drain()
	r.mu.Unlock()
	queue := make(chan *Delivery)
	var wg sync.WaitGroup
	for range min(len(waiting), shutdownWorkers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range queue {
				r.held.Add(-d.weight)
				r.runDelivery(d, false)
			}
		}()
	}
	for _, d := range waiting {
		queue <- d
	}
	close(queue)
	wg.Wait()
}

// deliveryQueue is a FIFO of deliveries waiting for a check slot.
type deliveryQueue struct {
	items []*Delivery
	head  int
}

func (q *deliveryQueue) len() int { return len(q.items) - q.head }

func (q *deliveryQueue) push(d *Delivery) {
	if q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, d)
}

func (q *deliveryQueue) pop() *Delivery {
	if q.len() == 0 {
		return nil
	}
	d := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return d
}

// drain empties the queue and returns what it held, oldest first.
func (q *deliveryQueue) drain() []*Delivery {
	out := append([]*Delivery(nil), q.items[q.head:]...)
	q.items, q.head = nil, 0
	return out
}
