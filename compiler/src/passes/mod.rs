//! Rewrites of the IR after import, each in its own module, run in a fixed order by [`run`].

use crate::ir::Graph;

/// Runs every pass in order.
pub fn run(graph: &mut Graph) {
    graph.remove_dead();
}
