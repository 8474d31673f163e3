//! Several threads sharing the one TPU: when each forward pass gets the TPU, and how long it
//! waits for it.
//!
//! On a board, threads may forward models at the same time, but the TPU runs one command buffer
//! at a time (vendor FAQ §3.4); CPU routines run on the threads in parallel. This model takes each
//! thread's forward pass as a sequence of CPU and TPU steps with their durations and gives the TPU
//! to requests in the order they are made (first come, first served; at equal times the lower
//! thread first). All threads start at time 0 and forward back to back.

/// One routine of a forward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// A CPU routine: runs at once, beside anything else.
    Cpu { ms: f64 },
    /// A TPU routine: needs the TPU for `ms`.
    Tpu { ms: f64 },
}

/// One forward pass of one thread, in the queue's time (ms from the start).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForwardSpan {
    pub thread: usize,
    /// The thread's n-th forward (from 0).
    pub forward: usize,
    pub start_ms: f64,
    pub end_ms: f64,
    /// Time spent waiting for the TPU while other threads' routines ran on it.
    pub wait_ms: f64,
    pub tpu_ms: f64,
    pub cpu_ms: f64,
}

/// What a thread is doing over one stretch of the queue's time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceKind {
    /// Waiting for the TPU before its routine `routine`.
    Wait,
    Tpu,
    Cpu,
}

/// One stretch of one thread's time: routine `routine` (its index in the pass's steps) of
/// forward `forward`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slice {
    pub thread: usize,
    pub forward: usize,
    pub routine: usize,
    pub kind: SliceKind,
    pub start_ms: f64,
    pub end_ms: f64,
}

/// The queue's result: each forward pass, and what every thread did when.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// In the order the passes end (ties: lower thread first).
    pub forwards: Vec<ForwardSpan>,
    /// Per thread in time order; waits of zero length are left out.
    pub slices: Vec<Slice>,
}

impl ForwardSpan {
    pub fn latency_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// Run `forwards` passes of `steps[t]` on each thread `t`.
pub fn simulate(steps: &[Vec<Step>], forwards: usize) -> Timeline {
    struct Thread {
        forward: usize,
        step: usize,
        now: f64,
        span: ForwardSpan,
    }
    let fresh = |t: usize, f: usize, now: f64| ForwardSpan {
        thread: t,
        forward: f,
        start_ms: now,
        end_ms: now,
        wait_ms: 0.0,
        tpu_ms: 0.0,
        cpu_ms: 0.0,
    };
    let mut threads: Vec<Thread> =
        (0..steps.len()).map(|t| Thread { forward: 0, step: 0, now: 0.0, span: fresh(t, 0, 0.0) }).collect();
    let mut out = Vec::new();
    let mut slices = Vec::new();
    let mut tpu_free = 0.0f64;
    // Move a thread on to its next TPU request (or its end): CPU steps and pass boundaries touch
    // nothing shared.
    let advance = |t: usize, th: &mut Thread, out: &mut Vec<ForwardSpan>, slices: &mut Vec<Slice>| loop {
        if th.forward >= forwards {
            return;
        }
        match steps[t].get(th.step) {
            Some(Step::Tpu { .. }) => return,
            Some(Step::Cpu { ms }) => {
                slices.push(Slice {
                    thread: t,
                    forward: th.forward,
                    routine: th.step,
                    kind: SliceKind::Cpu,
                    start_ms: th.now,
                    end_ms: th.now + ms,
                });
                th.now += ms;
                th.span.cpu_ms += ms;
                th.step += 1;
            }
            None => {
                th.span.end_ms = th.now;
                out.push(th.span);
                th.forward += 1;
                th.step = 0;
                th.span = fresh(t, th.forward, th.now);
            }
        }
    };
    for (t, th) in threads.iter_mut().enumerate() {
        advance(t, th, &mut out, &mut slices);
    }
    loop {
        // The earliest TPU request.
        let next = threads
            .iter()
            .enumerate()
            .filter(|(_, th)| th.forward < forwards)
            .min_by(|a, b| a.1.now.total_cmp(&b.1.now).then(a.0.cmp(&b.0)))
            .map(|(t, _)| t);
        let Some(t) = next else { break };
        let th = &mut threads[t];
        let Some(Step::Tpu { ms }) = steps[t].get(th.step).copied() else {
            unreachable!("advance stops at a TPU step")
        };
        let start = th.now.max(tpu_free);
        let slice =
            |kind, start_ms, end_ms| Slice { thread: t, forward: th.forward, routine: th.step, kind, start_ms, end_ms };
        if start > th.now {
            slices.push(slice(SliceKind::Wait, th.now, start));
        }
        slices.push(slice(SliceKind::Tpu, start, start + ms));
        th.span.wait_ms += start - th.now;
        th.span.tpu_ms += ms;
        th.now = start + ms;
        tpu_free = th.now;
        th.step += 1;
        advance(t, th, &mut out, &mut slices);
    }
    slices.sort_by(|a, b| a.thread.cmp(&b.thread).then(a.start_ms.total_cmp(&b.start_ms)));
    Timeline { forwards: out, slices }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_never_waits() {
        let s = simulate(&[vec![Step::Cpu { ms: 1.0 }, Step::Tpu { ms: 4.0 }, Step::Cpu { ms: 0.5 }]], 3).forwards;
        assert_eq!(s.len(), 3);
        for (k, f) in s.iter().enumerate() {
            assert_eq!((f.wait_ms, f.tpu_ms, f.cpu_ms, f.latency_ms()), (0.0, 4.0, 1.5, 5.5));
            assert_eq!(f.start_ms, 5.5 * k as f64);
        }
    }

    #[test]
    fn two_threads_take_turns_on_the_tpu() {
        // Both ask at 0: thread 0 runs first, thread 1 waits the whole TPU routine.
        let tpu = vec![Step::Tpu { ms: 10.0 }];
        let timeline = simulate(&[tpu.clone(), tpu], 2);
        let s = &timeline.forwards;
        let by = |t, f| *s.iter().find(|x| x.thread == t && x.forward == f).unwrap();
        assert_eq!((by(0, 0).wait_ms, by(1, 0).wait_ms), (0.0, 10.0));
        // From then on each waits for the other's pass: the TPU is never idle.
        assert_eq!((by(0, 1).start_ms, by(0, 1).wait_ms, by(0, 1).end_ms), (10.0, 10.0, 30.0));
        assert_eq!((by(1, 1).wait_ms, by(1, 1).end_ms), (10.0, 40.0));
        assert_eq!(s.iter().map(|x| x.tpu_ms).sum::<f64>(), 40.0);
        // Thread 1's track: wait 0–10, TPU 10–20, wait 20–30, TPU 30–40.
        let t1: Vec<(SliceKind, f64, f64)> =
            timeline.slices.iter().filter(|x| x.thread == 1).map(|x| (x.kind, x.start_ms, x.end_ms)).collect();
        use SliceKind::*;
        assert_eq!(t1, [(Wait, 0.0, 10.0), (Tpu, 10.0, 20.0), (Wait, 20.0, 30.0), (Tpu, 30.0, 40.0)]);
    }

    #[test]
    fn cpu_work_overlaps_the_other_threads_tpu_work() {
        // Thread 1 does 6 ms of CPU work first: it asks at 6, while thread 0 holds the TPU to 10.
        let s =
            simulate(&[vec![Step::Tpu { ms: 10.0 }], vec![Step::Cpu { ms: 6.0 }, Step::Tpu { ms: 2.0 }]], 1).forwards;
        let t1 = s.iter().find(|x| x.thread == 1).unwrap();
        assert_eq!((t1.wait_ms, t1.end_ms), (4.0, 12.0));
    }

    #[test]
    fn a_program_without_tpu_routines_ends() {
        let s = simulate(&[vec![Step::Cpu { ms: 1.0 }], vec![]], 2).forwards;
        assert_eq!(s.len(), 4);
        assert!(s.iter().all(|f| f.wait_ms == 0.0));
    }
}
