//! `nft -j list ruleset` into the rule model.
