//! What of a source a caller receives: the Plex token only with
//! `view_plexsource_plex_token` (globally or on that source), and every
//! hand-out is queued on the audit trail (see [`crate::audit`]).

use std::sync::Arc;

use uuid::Uuid;

use super::Operations;
use domain::{
    PlexSource, Slug,
    access::{Caller, Permission},
};

/// Whether the Plex token goes out with a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenVisibility {
    Shown,
    Hidden,
}

/// A source as one caller may receive it.
#[derive(Debug, Clone)]
pub struct Visible {
    pub source: Arc<PlexSource>,
    pub token: TokenVisibility,
}

impl Visible {
    /// The Plex token as this caller sees it: the token, or empty text
    /// (as authentik renders a write-only field it does not show).
    pub fn plex_token(&self) -> &str {
        match self.token {
            TokenVisibility::Shown => self.source.fields.plex_token.expose(),
            TokenVisibility::Hidden => "",
        }
    }
}

impl Operations {
    /// One source for this caller (see [`Operations::reveal_all`]).
    pub(super) async fn reveal(&self, caller: &Caller, source: Arc<PlexSource>) -> Visible {
        // The hot path of every retrieve: no list to build.
        let token = token_visibility(caller, &source);
        if token == TokenVisibility::Shown {
            let shown = [(source.pk, &source.fields.slug)];
            self.audit
                .token_views(caller, &shown, chrono::Utc::now())
                .await;
        }
        Visible { source, token }
    }

    /// Sources for this caller: each with the token if the caller may see
    /// it, and one audit record queued per token handed out.
    pub(super) async fn reveal_all(
        &self,
        caller: &Caller,
        sources: Vec<Arc<PlexSource>>,
    ) -> Vec<Visible> {
        let visible: Vec<Visible> = sources
            .into_iter()
            .map(|source| Visible {
                token: token_visibility(caller, &source),
                source,
            })
            .collect();
        let shown: Vec<(Uuid, &Slug)> = visible
            .iter()
            .filter(|v| v.token == TokenVisibility::Shown)
            .map(|v| (v.source.pk, &v.source.fields.slug))
            .collect();
        if !shown.is_empty() {
            self.audit
                .token_views(caller, &shown, chrono::Utc::now())
                .await;
        }
        visible
    }
}

fn token_visibility(caller: &Caller, source: &PlexSource) -> TokenVisibility {
    if caller.may(Permission::ViewPlexToken, Some(source.pk)) {
        TokenVisibility::Shown
    } else {
        TokenVisibility::Hidden
    }
}
