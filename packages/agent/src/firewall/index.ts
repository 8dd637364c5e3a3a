export { Firewall, type EgressStatus, type FirewallOptions } from './firewall.js';
export { procForwarding, type Forwarding } from './ip-forward.js';
export { NftCli, NftError, type Nft, type NftCliOptions } from './nft.js';
export { diffTables, normaliseTable, sameTable, type NormalisedTable } from './normalise.js';
export { EMPTY_STATE, TABLE_FAMILY, TABLE_NAME, UPLINK_IFNAME, renderTable, renderTransaction, type DnatRule, type FirewallState } from './ruleset.js';
