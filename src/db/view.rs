//! Which SSTs this handle reads: a manifest head installed as the live view, and refreshed
//! from storage to see other writers' commits.

use std::sync::Arc;

use super::{Db, State, Version};
use crate::error::{Error, Result};
use crate::manifest::Head;
use crate::sst::SstHandle;

impl Db {
    /// Installs a manifest head as the SST set readers see, reusing open handles (and
    /// `fresh` ones just written) so cached footers survive.
    pub(super) fn install(&self, st: &mut State, head: &Head, fresh: &[Arc<SstHandle>]) {
        if head.state.version <= st.version.manifest_version {
            return;
        }
        let find = |id: u64| {
            fresh
                .iter()
                .chain(st.version.ssts.iter())
                .find(|h| h.meta.id == id)
                .cloned()
        };
        let ssts = head
            .state
            .ssts
            .iter()
            .map(|m| find(m.id).unwrap_or_else(|| Arc::new(SstHandle::lazy(m.clone()))))
            .collect();
        let version = Arc::new(Version {
            ssts,
            manifest_version: head.state.version,
        });
        st.pinned_versions.retain(|w| w.strong_count() > 0);
        st.pinned_versions.push(Arc::downgrade(&version));
        st.version = version;
        // Commits by other handles are visible once their SSTs are installed.
        if head.state.last_ts > st.last_ts {
            st.last_ts = head.state.last_ts;
        }
        // Groups still in flight are stamped above the head when they commit.
        if head.state.last_ts > st.visible_ts {
            st.visible_ts = head.state.last_ts;
        }
    }

    /// Re-reads the manifest head (one GET) and, when another handle committed since, makes
    /// its commits visible here. Returns whether anything changed. Handles on object stores
    /// call this to see other writers' puts (a Worker does it once per request).
    pub async fn refresh(&self) -> Result<bool> {
        self.check_open()?;
        let issued = self.shared.config.clock.now_millis();
        let Some(head) = self.shared.manifest.load().await? else {
            return Err(Error::Corrupt("the manifest head disappeared".into()));
        };
        let mut st = self.state()?;
        let before = st.version.manifest_version;
        self.install(&mut st, &head, &[]);
        st.checked_ms = Some(st.checked_ms.map_or(issued, |c| c.max(issued)));
        Ok(st.version.manifest_version != before)
    }
}
