//! The subscription trie ("sublist"): one node per filter token, with literal children looked up
//! by token and at most one `*` child and one `>` child per node.
//!
//! Nodes live in an arena (`Vec`) and refer to each other by index; removal prunes nodes left
//! empty and recycles their slots. Matching a subject walks, at each level, the literal child
//! named by the subject's token (one hash lookup, borrowing the token, no allocation), the `*`
//! child if there is one, and takes the `>` child's subscribers if there is one. Branches whose
//! edge cannot match the subject are never entered, so an exact subject in a trie full of
//! unrelated wildcard filters visits one node per token. Every trie node is visited at most once
//! per match, so the work is bounded by the trie's size as well as by `2^depth`.

use std::collections::HashMap;
use std::str::Split;

use super::hash::FixedState;
use super::queue::{GroupId, QueueGroups};

type NodeId = usize;

/// The root node, never freed.
const ROOT: NodeId = 0;

#[derive(Debug)]
struct Node<T> {
    /// Literal children by token. Looked up only, never iterated where order could show.
    literals: HashMap<Box<str>, NodeId, FixedState>,
    /// The `*` child.
    star: Option<NodeId>,
    /// The `>` child: it ends a filter, so it never has children of its own.
    full: Option<NodeId>,
    /// Plain subscribers of the filter ending here, sorted ascending, no duplicates.
    subs: Vec<T>,
    /// Queue groups of the filter ending here, in creation order (a node has few).
    groups: Vec<GroupId>,
}

impl<T> Node<T> {
    fn new() -> Self {
        Node {
            literals: HashMap::with_hasher(FixedState::default()),
            star: None,
            full: None,
            subs: Vec::new(),
            groups: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.subs.is_empty()
            && self.groups.is_empty()
            && self.literals.is_empty()
            && self.star.is_none()
            && self.full.is_none()
    }
}

/// Result of [`Trie::remove`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    NotFound,
    Removed,
}

/// The trie of subscriptions and the queue groups hanging off its nodes.
#[derive(Debug)]
pub(crate) struct Trie<T> {
    nodes: Vec<Node<T>>,
    free: Vec<NodeId>,
    groups: QueueGroups<T>,
}

impl<T: Copy + Ord> Trie<T> {
    pub(crate) fn new() -> Self {
        Trie {
            nodes: vec![Node::new()],
            free: Vec::new(),
            groups: QueueGroups::new(),
        }
    }

    /// Adds `value` under `filter` (and queue group `queue`). Returns `false`, changing nothing,
    /// if exactly this subscription exists already. `filter` must be a valid filter.
    pub(crate) fn insert(&mut self, filter: &str, queue: Option<&str>, value: T) -> bool {
        let mut node = ROOT;
        for token in filter.split('.') {
            node = self.child_or_create(node, token);
        }
        let members = match queue {
            None => &mut self.nodes[node].subs,
            Some(name) => {
                let found = self.nodes[node]
                    .groups
                    .iter()
                    .copied()
                    .find(|g| &*self.groups.get(*g).name == name);
                let id = match found {
                    Some(id) => id,
                    None => {
                        let id = self.groups.create(filter, name);
                        self.nodes[node].groups.push(id);
                        id
                    }
                };
                &mut self.groups.get_mut(id).members
            }
        };
        match members.binary_search(&value) {
            Ok(_) => false,
            Err(at) => {
                members.insert(at, value);
                true
            }
        }
    }

    /// Whether exactly this subscription exists. Any string is accepted.
    pub(crate) fn contains(&self, filter: &str, queue: Option<&str>, value: T) -> bool {
        let mut node = ROOT;
        for token in filter.split('.') {
            match self.child(node, token) {
                Some(child) => node = child,
                None => return false,
            }
        }
        let n = &self.nodes[node];
        let members = match queue {
            None => &n.subs,
            Some(name) => match n
                .groups
                .iter()
                .find(|g| &*self.groups.get(**g).name == name)
            {
                Some(&id) => &self.groups.get(id).members,
                None => return false,
            },
        };
        members.binary_search(&value).is_ok()
    }

    /// Removes exactly this subscription; prunes nodes and groups left empty. Returns whether
    /// it existed. Any string is accepted: one that was never inserted is simply not found.
    pub(crate) fn remove(&mut self, filter: &str, queue: Option<&str>, value: T) -> bool {
        self.remove_at(ROOT, filter.split('.'), queue, value) == Removal::Removed
    }

    /// Appends the plain subscribers and the queue groups of every filter matching `subject`
    /// (unsorted, in walk order). Returns the number of trie nodes visited.
    pub(crate) fn collect(
        &self,
        subject: &str,
        plain: &mut Vec<T>,
        groups: &mut Vec<GroupId>,
    ) -> u64 {
        let mut visited = 0;
        self.collect_at(ROOT, subject.split('.'), plain, groups, &mut visited);
        visited
    }

    /// Sorts group ids by (group name, filter): the groups of one name become adjacent, and
    /// queue members appear in results in name order.
    pub(crate) fn sort_groups(&self, ids: &mut [GroupId]) {
        ids.sort_unstable_by(|a, b| self.groups.get(*a).key().cmp(&self.groups.get(*b).key()));
    }

    pub(crate) fn groups_mut(&mut self) -> &mut QueueGroups<T> {
        &mut self.groups
    }

    /// Live nodes, the root included.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Live queue groups.
    pub(crate) fn group_count(&self) -> usize {
        self.groups.len()
    }

    fn child(&self, node: NodeId, token: &str) -> Option<NodeId> {
        let n = &self.nodes[node];
        match token {
            "*" => n.star,
            ">" => n.full,
            literal => n.literals.get(literal).copied(),
        }
    }

    fn child_or_create(&mut self, node: NodeId, token: &str) -> NodeId {
        if let Some(child) = self.child(node, token) {
            return child;
        }
        let child = match self.free.pop() {
            Some(id) => id,
            None => {
                self.nodes.push(Node::new());
                self.nodes.len() - 1
            }
        };
        let n = &mut self.nodes[node];
        match token {
            "*" => n.star = Some(child),
            ">" => n.full = Some(child),
            literal => {
                n.literals.insert(literal.into(), child);
            }
        }
        child
    }

    fn remove_at(
        &mut self,
        node: NodeId,
        mut tokens: Split<'_, char>,
        queue: Option<&str>,
        value: T,
    ) -> Removal {
        let Some(token) = tokens.next() else {
            return self.remove_here(node, queue, value);
        };
        let Some(child) = self.child(node, token) else {
            return Removal::NotFound;
        };
        let removal = self.remove_at(child, tokens, queue, value);
        if removal == Removal::Removed && self.nodes[child].is_empty() {
            let n = &mut self.nodes[node];
            match token {
                "*" => n.star = None,
                ">" => n.full = None,
                literal => {
                    n.literals.remove(literal);
                }
            }
            // Replacing the node drops its (empty) map's storage as well.
            self.nodes[child] = Node::new();
            self.free.push(child);
        }
        removal
    }

    fn remove_here(&mut self, node: NodeId, queue: Option<&str>, value: T) -> Removal {
        match queue {
            None => {
                let subs = &mut self.nodes[node].subs;
                match subs.binary_search(&value) {
                    Ok(at) => {
                        subs.remove(at);
                        Removal::Removed
                    }
                    Err(_) => Removal::NotFound,
                }
            }
            Some(name) => {
                let groups = &self.groups;
                let Some(slot) = self.nodes[node]
                    .groups
                    .iter()
                    .position(|g| &*groups.get(*g).name == name)
                else {
                    return Removal::NotFound;
                };
                let id = self.nodes[node].groups[slot];
                let members = &mut self.groups.get_mut(id).members;
                let Ok(at) = members.binary_search(&value) else {
                    return Removal::NotFound;
                };
                members.remove(at);
                if members.is_empty() {
                    self.nodes[node].groups.swap_remove(slot);
                    self.groups.release(id);
                }
                Removal::Removed
            }
        }
    }

    fn collect_at(
        &self,
        node: NodeId,
        tokens: Split<'_, char>,
        plain: &mut Vec<T>,
        groups: &mut Vec<GroupId>,
        visited: &mut u64,
    ) {
        *visited += 1;
        let n = &self.nodes[node];
        let mut rest = tokens;
        let Some(token) = rest.next() else {
            plain.extend_from_slice(&n.subs);
            groups.extend_from_slice(&n.groups);
            return;
        };
        if let Some(full) = n.full {
            // `>` matches this token and everything after it.
            *visited += 1;
            let f = &self.nodes[full];
            plain.extend_from_slice(&f.subs);
            groups.extend_from_slice(&f.groups);
        }
        if let Some(&child) = n.literals.get(token) {
            self.collect_at(child, rest.clone(), plain, groups, visited);
        }
        if let Some(star) = n.star {
            self.collect_at(star, rest, plain, groups, visited);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(t: &Trie<u32>, subject: &str) -> Vec<u32> {
        let mut plain = Vec::new();
        let mut groups = Vec::new();
        t.collect(subject, &mut plain, &mut groups);
        plain.sort_unstable();
        plain
    }

    #[test]
    fn literal_star_and_full_wildcard_edges() {
        let mut t = Trie::new();
        assert!(t.insert("foo.bar", None, 1));
        assert!(t.insert("foo.*", None, 2));
        assert!(t.insert("foo.>", None, 3));
        assert!(t.insert("*.bar", None, 4));
        assert!(t.insert(">", None, 5));
        assert_eq!(matched(&t, "foo.bar"), [1, 2, 3, 4, 5]);
        assert_eq!(matched(&t, "foo.baz"), [2, 3, 5]);
        assert_eq!(matched(&t, "foo.bar.baz"), [3, 5]);
        assert_eq!(matched(&t, "foo"), [5]);
        assert_eq!(matched(&t, "x.bar"), [4, 5]);
    }

    #[test]
    fn duplicates_are_refused_and_remove_prunes_to_the_root() {
        let mut t = Trie::new();
        assert!(t.insert("a.b.c", None, 1));
        assert!(!t.insert("a.b.c", None, 1));
        assert!(t.insert("a.b.c", Some("q"), 1));
        assert!(!t.insert("a.b.c", Some("q"), 1));
        assert!(t.contains("a.b.c", Some("q"), 1));
        assert!(t.contains("a.b.c", None, 1));
        assert!(!t.contains("a.b.c", Some("r"), 1));
        assert!(!t.contains("a.b", None, 1));
        assert!(t.insert("a.*.>", Some("q"), 2));
        assert_eq!(t.group_count(), 2);
        assert!(!t.remove("a.b.c", None, 2));
        assert!(!t.remove("a.b", None, 1));
        assert!(!t.remove("a.b.c", Some("r"), 1));
        assert!(!t.remove("a..c", None, 1));
        assert!(t.remove("a.b.c", None, 1));
        assert!(!t.remove("a.b.c", None, 1));
        assert!(t.remove("a.b.c", Some("q"), 1));
        assert!(t.remove("a.*.>", Some("q"), 2));
        assert_eq!(t.node_count(), 1);
        assert_eq!(t.group_count(), 0);
        assert!(t.nodes[ROOT].is_empty());
    }

    #[test]
    fn pruning_keeps_shared_prefixes() {
        let mut t = Trie::new();
        t.insert("a.b", None, 1);
        t.insert("a.b.c", None, 2);
        assert_eq!(t.node_count(), 4);
        assert!(t.remove("a.b.c", None, 2));
        assert_eq!(t.node_count(), 3);
        assert_eq!(matched(&t, "a.b"), [1]);
        // Freed slots are reused.
        t.insert("x.y", None, 3);
        assert_eq!(t.nodes.len(), 4 + 1);
    }

    #[test]
    fn exact_subjects_skip_unrelated_wildcard_branches() {
        let mut t = Trie::new();
        for i in 0..1000 {
            t.insert(&format!("w.{i}.*.>"), None, i);
            t.insert(&format!("e.{i}.x"), None, i);
        }
        let mut plain = Vec::new();
        let mut groups = Vec::new();
        let visited = t.collect("e.7.x", &mut plain, &mut groups);
        assert_eq!(plain, [7]);
        // Root, "e", "7", "x": nothing under "w" is touched.
        assert_eq!(visited, 4);
    }

    #[test]
    fn queue_groups_are_per_filter_and_name() {
        let mut t = Trie::new();
        t.insert("a.*", Some("q"), 1);
        t.insert("a.b", Some("q"), 2);
        t.insert("a.b", Some("r"), 3);
        t.insert("a.b", Some("q"), 4);
        let mut plain = Vec::new();
        let mut groups = Vec::new();
        t.collect("a.b", &mut plain, &mut groups);
        assert!(plain.is_empty());
        t.sort_groups(&mut groups);
        let keys: Vec<_> = groups.iter().map(|g| t.groups.get(*g).key()).collect();
        assert_eq!(keys, [("q", "a.*"), ("q", "a.b"), ("r", "a.b")]);
        assert_eq!(t.groups.get(groups[1]).members, [2, 4]);
    }
}
