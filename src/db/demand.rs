//! What a walk over a partly read database looked for and did not find.

/// The record of what a walk lacked. A walk over a whole database never lacks anything that
/// exists, so whole reads leave it off and nothing is recorded; a targeted read
/// ([`crate::nat::load`], `trace --from`) turns it on, walks, fetches what was lacked, and walks
/// again until nothing more is — the walk itself decides what is read, so it sees every row it
/// would see in a whole read.
#[derive(Debug, Clone)]
pub struct Demand<L = super::nb::Lack>(Option<std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<L>>>>);

impl<L> Default for Demand<L> {
    fn default() -> Self {
        Demand(None)
    }
}

impl<L: Ord> Demand<L> {
    pub fn on() -> Self {
        Demand(Some(Default::default()))
    }

    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    pub(crate) fn note(&self, lack: impl FnOnce() -> L) {
        if let Some(set) = &self.0 {
            set.lock().unwrap_or_else(|e| e.into_inner()).insert(lack());
        }
    }

    /// What was lacked since the last call.
    pub fn take(&self) -> Vec<L> {
        match &self.0 {
            Some(set) => std::mem::take(&mut *set.lock().unwrap_or_else(|e| e.into_inner()))
                .into_iter()
                .collect(),
            None => vec![],
        }
    }
}
