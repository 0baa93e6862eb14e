//! A bounded memory of owners known not to exist, so the dependents of one
//! deleted owner do not each look it up again.

use std::collections::{HashSet, VecDeque};

use super::graph::Identity;

pub struct AbsentOwners {
    capacity: usize,
    order: VecDeque<Identity>,
    set: HashSet<Identity>,
}

impl AbsentOwners {
    pub fn new(capacity: usize) -> Self {
        AbsentOwners { capacity: capacity.max(1), order: VecDeque::new(), set: HashSet::new() }
    }

    pub fn add(&mut self, id: Identity) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, id: &Identity) -> bool {
        self.set.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> Identity {
        Identity {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "default".into(),
            name: format!("cm{n}"),
            uid: format!("u{n}"),
        }
    }

    #[test]
    fn oldest_entries_are_forgotten_first() {
        let mut a = AbsentOwners::new(2);
        a.add(id(1));
        a.add(id(2));
        a.add(id(1));
        a.add(id(3));
        assert!(!a.contains(&id(1)));
        assert!(a.contains(&id(2)) && a.contains(&id(3)));
    }
}
