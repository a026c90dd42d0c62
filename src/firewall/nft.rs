//! `nft -j list ruleset` into the rule model.

use super::ruleset::Ruleset;

pub fn read(_json: &str) -> anyhow::Result<Ruleset> {
    Ok(Ruleset::default())
}
