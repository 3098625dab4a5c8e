/**
 * Real Debian mail servers and a real DNS resolver on loopback, for interop tests.
 * Needs root and the packages that .ci/install-system-deps installs.
 */
export {
  dig,
  swaks,
  parseSwaks,
  runTool,
  type DigResult,
  type SmtpReply,
  type SwaksOptions,
  type SwaksResult,
} from './clients.js';
export { startDns, type DnsRecord, type DnsServer, type DnsZone, type RecordType } from './dns.js';
export { startExim, EXIM_USERS, EXIM_HOSTNAME, type Exim, type EximOptions } from './exim.js';
export { startMailTestbed, type MailTestbed, type MailTestbedOptions } from './mail-testbed.js';
export { freePort, smtpGreeting } from './net.js';
export {
  startPostfix,
  postfixProblems,
  POSTFIX_INTERNAL_SERVICES,
  type PostfixDirs,
  type PostfixInstance,
  type PostfixListener,
  type PostfixOptions,
} from './postfix.js';
export {
  startPostfixRemotes,
  DEFAULT_REMOTE_IPS,
  KNOWN_USERS,
  SRS_USER,
  SPECIAL_USERS,
  BLOCKLIST_REPLY,
  REMOTE_KINDS,
  type PostfixRemotes,
  type RemoteKind,
  type RemoteSpec,
  type RemotesOptions,
} from './postfix-remotes.js';
export { startPostgrey, type Postgrey, type PostgreyOptions } from './postgrey.js';
export {
  startReceivingPostfix,
  type ReceiverListener,
  type ReceivingPostfix,
  type ReceivingPostfixOptions,
} from './receiving-postfix.js';
export { groupMembers, isAlive } from './process.js';
export {
  DEFAULT_IPS,
  MX_DOMAINS,
  NAMES,
  PRIVATE_MX_ADDRESS,
  defaultZone,
  type TestbedIps,
  type TestbedRole,
} from './zone.js';
