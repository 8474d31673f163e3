//! `cvsim mem MODEL... [--clones N]`: the device memory a set of models takes when loaded together
//! in one process, allocation by allocation, and what the runtime's sharing saves. Sizes come from
//! the runtime's accounting ([`cvsim_runtime::memory`]); this module only lays them out.

use cvsim_runtime::memory::{combine, MemoryOptions, MemoryPlan, SharedPool};
use cvsim_runtime::Model;
use std::fmt::Write;

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64)
}

fn row(out: &mut String, what: &str, kind: &str, bytes: u64, count: u32, note: &str) {
    let _ = writeln!(out, "  {what:<40} {kind:<8} {bytes:>12} x{count:<3} {:>12}{note}", bytes * count as u64);
}

/// The report for `models` registered in the given order, each with `clones` clones.
pub fn render(models: &[Model], clones: u32, options: MemoryOptions) -> Result<String, String> {
    let plans = models
        .iter()
        .map(|m| MemoryPlan::new(m, options).map_err(|e| format!("{}: {e}", m.name)))
        .collect::<Result<Vec<_>, _>>()?;
    let instances = clones + 1;
    let items: Vec<(&MemoryPlan, u32)> = plans.iter().map(|p| (p, instances)).collect();
    let combined = combine(&items);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} model(s) in registration order, {} instance(s) each (1 + {clones} clone(s))",
        plans.len(),
        instances
    );
    let _ = writeln!(out, "  {:<40} {:<8} {:>12} {:<4} {:>12}", "ALLOCATION", "TYPE", "BYTES", "N", "TOTAL");
    for (i, p) in plans.iter().enumerate() {
        let _ = writeln!(out, "model #{i} {} ({})", p.model, p.chip.name());
        if p.weight > 0 {
            row(&mut out, "weight", "WEIGHT", p.weight, 1, "  shared by clones");
        }
        for c in &p.cmdbufs {
            let kind = if c.kind == cvsim_runtime::SectionType::Cmdbuf { "cmdbuf" } else { "DMABUF" };
            row(&mut out, &format!("dmabuf of `{}`", c.section), kind, c.total, 1, "  shared by clones");
        }
        if p.private_gmem > 0 {
            row(&mut out, "private gmem", "PROGRAM", p.private_gmem, instances, "");
        }
        for m in &p.io {
            row(&mut out, &format!("io region {} `{}`", m.region, m.tensor), "NEURON", m.size, instances, "");
        }
        if p.shared_gmem > 0 {
            let _ = writeln!(out, "  shared gmem request {} bytes (from the pool below)", p.shared_gmem);
        }
    }
    // Which models each pool buffer serves, replaying the requests in registration order.
    let mut pool = SharedPool::default();
    let mut users: Vec<Vec<usize>> = Vec::new(); // parallel to pool.buffers, front first
    for (k, p) in plans.iter().enumerate() {
        if p.shared_gmem == 0 {
            continue;
        }
        if pool.acquire(p.shared_gmem) > 0 {
            users.insert(0, vec![k]);
        } else if let Some(i) = pool.serving(p.shared_gmem) {
            users[i].push(k);
        }
    }
    let _ = writeln!(out, "shared gmem pool (SharedMemory)");
    for (i, (b, u)) in pool.buffers.iter().zip(&users).enumerate() {
        let u: Vec<String> = u.iter().map(|k| format!("#{k}")).collect();
        row(&mut out, &format!("buffer {i}, serving model {}", u.join(", ")), "SHARED", *b, 1, "");
    }
    let alone: u64 = plans.iter().map(|p| p.total * instances as u64).sum();
    let _ = writeln!(out, "total                {:>12} bytes ({})", combined.total, mib(combined.total));
    let _ = writeln!(
        out,
        "without sharing      {:>12} bytes (every instance its own weights, cmdbufs and shared gmem)",
        alone
    );
    let saving = alone - combined.total;
    let _ = writeln!(
        out,
        "saving from sharing  {:>12} bytes ({:.1}%)",
        saving,
        if alone == 0 { 0.0 } else { saving as f64 * 100.0 / alone as f64 }
    );
    // The pool only reuses a buffer at least as large: the largest request first is best.
    let mut order: Vec<usize> = (0..plans.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(plans[i].shared_gmem));
    let best = combine(&order.iter().map(|&i| (&plans[i], instances)).collect::<Vec<_>>()).total;
    if best < combined.total {
        let names: Vec<String> = order.iter().map(|i| format!("#{i}")).collect();
        let _ = writeln!(
            out,
            "registering in the order {} (largest shared gmem first) would take {} bytes, {} fewer",
            names.join(", "),
            best,
            combined.total - best
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_example_models_with_clones() {
        let models: Vec<Model> =
            (0..2).map(|s| Model::from_vec(cvsim_compiler::example::build(s).model_bytes).unwrap()).collect();
        insta::assert_snapshot!(render(&models, 2, MemoryOptions::default()).unwrap());
    }
}
