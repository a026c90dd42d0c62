//! iptables save format (iptables-save, iptables-legacy-save) into the rule model.
