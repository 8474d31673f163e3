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

impl ForwardSpan {
    pub fn latency_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// Run `forwards` passes of `steps[t]` on each thread `t`; the spans come in the order the
/// passes end (ties: lower thread first).
pub fn simulate(steps: &[Vec<Step>], forwards: usize) -> Vec<ForwardSpan> {
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
    let mut tpu_free = 0.0f64;
    // Move a thread on to its next TPU request (or its end): CPU steps and pass boundaries touch
    // nothing shared.
    let advance = |t: usize, th: &mut Thread, out: &mut Vec<ForwardSpan>| loop {
        if th.forward >= forwards {
            return;
        }
        match steps[t].get(th.step) {
            Some(Step::Tpu { .. }) => return,
            Some(Step::Cpu { ms }) => {
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
        advance(t, th, &mut out);
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
        th.span.wait_ms += start - th.now;
        th.span.tpu_ms += ms;
        th.now = start + ms;
        tpu_free = th.now;
        th.step += 1;
        advance(t, th, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_never_waits() {
        let s = simulate(&[vec![Step::Cpu { ms: 1.0 }, Step::Tpu { ms: 4.0 }, Step::Cpu { ms: 0.5 }]], 3);
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
        let s = simulate(&[tpu.clone(), tpu], 2);
        let by = |t, f| *s.iter().find(|x| x.thread == t && x.forward == f).unwrap();
        assert_eq!((by(0, 0).wait_ms, by(1, 0).wait_ms), (0.0, 10.0));
        // From then on each waits for the other's pass: the TPU is never idle.
        assert_eq!((by(0, 1).start_ms, by(0, 1).wait_ms, by(0, 1).end_ms), (10.0, 10.0, 30.0));
        assert_eq!((by(1, 1).wait_ms, by(1, 1).end_ms), (10.0, 40.0));
        assert_eq!(s.iter().map(|x| x.tpu_ms).sum::<f64>(), 40.0);
    }

    #[test]
    fn cpu_work_overlaps_the_other_threads_tpu_work() {
        // Thread 1 does 6 ms of CPU work first: it asks at 6, while thread 0 holds the TPU to 10.
        let s = simulate(&[vec![Step::Tpu { ms: 10.0 }], vec![Step::Cpu { ms: 6.0 }, Step::Tpu { ms: 2.0 }]], 1);
        let t1 = s.iter().find(|x| x.thread == 1).unwrap();
        assert_eq!((t1.wait_ms, t1.end_ms), (4.0, 12.0));
    }

    #[test]
    fn a_program_without_tpu_routines_ends() {
        let s = simulate(&[vec![Step::Cpu { ms: 1.0 }], vec![]], 2);
        assert_eq!(s.len(), 4);
        assert!(s.iter().all(|f| f.wait_ms == 0.0));
    }
}
