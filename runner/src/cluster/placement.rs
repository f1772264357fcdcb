//! Which node a new pod goes to. The runner pins every container of a pod to
//! one node, so it picks that node itself: among the nodes that are ready and
//! active and not excluded (lost during this run, or kept for other work), one
//! with room for the whole pod after what this run has already placed there,
//! the one with the most memory left first (pods spread out). The swarm still
//! checks the reservations, so a node someone else filled leaves the pod
//! pending, an infrastructure error retried elsewhere.

use std::collections::{HashMap, HashSet};

use super::node::NodeInfo;

/// What a pod (or the pods placed on a node) reserves.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Demand {
    pub cpus: f64,
    pub memory_bytes: i64,
}

impl std::ops::Add for Demand {
    type Output = Demand;

    fn add(self, other: Demand) -> Demand {
        Demand {
            cpus: self.cpus + other.cpus,
            memory_bytes: self.memory_bytes + other.memory_bytes,
        }
    }
}

/// The node for a pod of `demand`, or `None` when no node has room now.
pub fn pick_node<'a>(
    nodes: &'a [NodeInfo],
    demand: Demand,
    placed: &HashMap<String, Demand>,
    exclude: &HashSet<String>,
) -> Option<&'a NodeInfo> {
    const EPSILON: f64 = 1e-9;
    nodes
        .iter()
        .filter(|n| n.schedulable() && !exclude.contains(&n.id))
        .filter_map(|n| {
            let used = placed.get(&n.id).copied().unwrap_or_default();
            let free_cpus = n.cpus - used.cpus;
            let free_memory = n.memory_bytes - used.memory_bytes;
            (free_cpus + EPSILON >= demand.cpus && free_memory >= demand.memory_bytes)
                .then_some((n, free_memory - demand.memory_bytes))
        })
        .max_by(|(a, a_left), (b, b_left)| a_left.cmp(b_left).then(b.id.cmp(&a.id)))
        .map(|(n, _)| n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::node::{Availability, NodeHealth};

    const GIB: i64 = 1 << 30;

    fn node(id: &str, cpus: f64, memory_gib: i64) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            hostname: format!("host-{id}"),
            health: NodeHealth::Ready,
            message: String::new(),
            availability: Availability::Active,
            addr: String::new(),
            cpus,
            memory_bytes: memory_gib * GIB,
        }
    }

    fn pod(cpus: f64, memory_gib: i64) -> Demand {
        Demand {
            cpus,
            memory_bytes: memory_gib * GIB,
        }
    }

    #[test]
    fn the_node_with_most_memory_left_after_the_pod_wins() {
        let nodes = [node("a", 4.0, 8), node("b", 4.0, 16), node("c", 4.0, 16)];
        let placed = HashMap::from([("b".to_string(), pod(1.0, 4))]);
        let got = pick_node(&nodes, pod(2.0, 3), &placed, &HashSet::new()).unwrap();
        assert_eq!(got.id, "c");
        // Ties go to the smaller id, so a run's choices are reproducible.
        let got = pick_node(&nodes, pod(2.0, 3), &HashMap::new(), &HashSet::new()).unwrap();
        assert_eq!(got.id, "b");
    }

    #[test]
    fn a_node_without_room_for_the_whole_pod_is_never_picked() {
        let nodes = [node("a", 2.0, 8), node("b", 8.0, 2)];
        let placed = HashMap::from([("a".to_string(), pod(1.5, 1))]);
        assert!(pick_node(&nodes, pod(1.0, 3), &placed, &HashSet::new()).is_none());
        // Exactly full is room enough.
        let got = pick_node(&nodes, pod(0.5, 7), &placed, &HashSet::new()).unwrap();
        assert_eq!(got.id, "a");
    }

    #[test]
    fn down_drained_and_excluded_nodes_are_skipped() {
        let mut down = node("a", 8.0, 64);
        down.health = NodeHealth::Down;
        let mut drained = node("b", 8.0, 64);
        drained.availability = Availability::Drain;
        let lost_earlier = node("c", 8.0, 64);
        let small = node("d", 1.0, 2);
        let nodes = [down, drained, lost_earlier, small];
        let exclude = HashSet::from(["c".to_string()]);
        let got = pick_node(&nodes, pod(1.0, 1), &HashMap::new(), &exclude).unwrap();
        assert_eq!(got.id, "d");
        assert!(pick_node(&nodes, pod(2.0, 1), &HashMap::new(), &exclude).is_none());
    }

    #[test]
    fn demands_add_up() {
        assert_eq!(pod(1.0, 1) + pod(0.5, 2), pod(1.5, 3));
    }
}
