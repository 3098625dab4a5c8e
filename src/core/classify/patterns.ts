/**
 * What reply texts say, as named patterns the rule table (rules.ts) refers to.
 *
 * Each pattern reads one kind of meaning, in the wordings real servers use.
 * They are matched against the reply text with addresses masked (see
 * classify.ts), so a local part such as `helo@` or `blocked@` echoed back in
 * a reply can never read as a statement about the client.
 */

/** Greylisting wording (postgrey, greylistd, milter-greylist, provider variants); 4xx only. */
export const GREYLIST = /gr[ae]y-?list|try again later|please retry later|temporarily (?:deferred|rejected)/i;

/**
 * A refusal of our HELO/EHLO name: Postfix `Helo command rejected`, Exim `HELO argument does
 * not match`, SPF checked on the HELO identity (`s=helo`, RFC 7208 2.3), "need fully-qualified
 * hostname".
 */
export const HELO_REFUSED =
  /\b(?:helo|ehlo)\b|fully[- ]qualified host ?name|invalid host ?name|host ?name (?:is )?(?:not fully qualified|invalid|malformed)/i;

/**
 * Throttling: the server limits how often or how much we may ask. Says nothing about the mailbox,
 * and passes (RFC 5321 4.2.5 would have made it a 4xx).
 */
export const THROTTLED =
  /rate[- ]?limit|too many (?:connections|concurrent|sessions|messages|mails|emails|requests|errors|attempts|commands|(?:invalid |unknown |failed |bad |non-?existent )(?:recipients|users|addresses))|frequency|throttl|slow down|sending (?:rate|limit|quota)|\brate (?:exceeded|too high)|(?:hourly|daily) (?:sending |message |recipient )?(?:limit|quota)|(?:connection|message|recipient) (?:rate|limit) (?:exceeded|reached)|exceeded (?:the )?(?:maximum )?(?:number of |allowed )?(?:connections|sessions|rate)|(?:maximum|max\.?) (?:number of )?(?:connections|sessions)/i;

/**
 * The refusal names the client: our IP, host, network or HELO domain is on a block list, has a
 * poor reputation, no reverse DNS, or fails SPF (with MAIL FROM:<>, SPF checks our HELO name).
 * Every wording of "block list" that providers use is here (blocklist, block list, blacklist,
 * denylist, blocked using, listed at/in/on/by).
 */
export const ABOUT_CLIENT = new RegExp(
  [
    String.raw`block[- ]?list`,
    String.raw`black[- ]?list`,
    String.raw`deny[- ]?list`,
    String.raw`\bdnsbls?\b|\bdnsbl`,
    String.raw`\brbls?\b`,
    String.raw`spamhaus|spamcop|barracuda|sorbs|uceprotect|abuseat|\bcbl\b|\bpbl\b|\bxbl\b|\bsbl\b|spamrats|senderscore|cloudmark|proofpoint|trend ?micro|mailspike|\bivm\b|s5h\.net`,
    String.raw`blocked (?:using|by|because|due)`,
    String.raw`\blisted (?:at|in|on|by)\b|\bis listed\b`,
    String.raw`reputation`,
    String.raw`client (?:host|ip|address)`,
    String.raw`(?:your|sending|sender|connecting|remote) (?:ip|host|server|network|mta|mail server)\b`,
    String.raw`part of (?:their|your|the) network`,
    String.raw`permanently deferred`,
    String.raw`\bip ?[=:] ?\d{1,3}(?:\.\d{1,3}){3}`,
    String.raw`(?:\bip\b|\b\d{1,3}(?:\.\d{1,3}){3}\b).{0,60}?\b(?:not (?:allowed|permitted|accepted|authori[sz]ed)|blocked|listed|refused|rejected|denied|banned)`,
    String.raw`(?:reverse (?:dns|lookup|dns lookup)|\brdns\b|\bptr\b|no (?:rdns|ptr))`,
    String.raw`dynamic(?:ally assigned)? ip|dial-?up|residential|end-?user (?:ip|range)`,
    String.raw`\bspf\b`,
    String.raw`connections? (?:will )?not (?:be )?accepted from`,
  ].join('|'),
  'i',
);

/** The server insists on TLS or authentication from us (530 5.7.0 Must issue a STARTTLS command first). */
export const TLS_OR_AUTH = /starttls|\btls\b|encryption|authenticat|\bauth\b/i;

/**
 * A condition the server itself calls temporary, in a 5xx it should have sent as 4xx: try again
 * later, busy, out of resources, local error.
 */
export const TEMPORARY_CONDITION =
  /try (?:again )?later|retry (?:again )?later|temporar(?:y|ily)|transient|(?:server|system|service) (?:is )?(?:busy|overloaded)|resources? (?:temporarily )?unavailable|insufficient system (?:storage|resources)|local error in processing|queue file write error|please (?:try|retry) again|unable to verify|could not be verified|cannot verify|unverified address/i;

/**
 * The refusal is about the null reverse-path itself (RFC 5321 4.5.5 says it must be accepted):
 * Postfix `<>: Sender address rejected`, "null sender", "bounces not accepted".
 */
export const ABOUT_NULL_SENDER =
  /<>|null (?:sender|reverse|return|from|envelope)|(?:empty|blank) (?:sender|envelope|return|reverse|mail from)|bounces? (?:messages? )?(?:are |is )?not|no bounces|(?:not accept|refuse|reject)\w* bounces|sender address rejected|envelope sender|reverse-path|return[- ]path/i;

/** Too many recipients in one transaction: retry the address alone. */
export const TOO_MANY_RECIPIENTS = /too many recipients|only one recipient|one recipient/i;

/** Relaying refused: the host does not take mail for this domain from us. */
export const RELAY_DENIED =
  /relay(?:ing)? (?:access )?(?:denied|not (?:permitted|allowed)|prohibited|refused)|unable to relay|(?:not permitted|not allowed|cannot|can't|do not|don't) (?:to )?relay|rcpthosts|not permitted to send|not our domain|not a local domain|no relaying/i;

/**
 * The mailbox is over its quota (it exists): "Mailbox is full", "over quota", Dovecot's "Blocks
 * limit exceeded" / "Inode limit exceeded", "exceeded storage allocation".
 */
export const MAILBOX_FULL =
  /(?:mail ?box|inbox|account|mail folder|storage|quota) (?:is )?(?:full|exhausted)|(?:mail ?box|inbox|account|user|recipient|mail folder)(?:'s)? (?:is |has )?(?:over|exceed(?:s|ed)?) (?:the |its |their |his |her )?(?:quota|storage|size|disk)|over ?quota|quota (?:exceeded|full|reached|exhausted)|exceed(?:s|ed)? (?:the |his |her |their |its )?(?:mailbox |disk |storage )?quota|disk quota|(?:blocks|inodes?) limit|storage (?:allocation|limit|quota|space) (?:exceeded|reached)|exceeded (?:the )?storage|(?:not enough|insufficient) (?:storage|disk space|space) (?:for|in) (?:this|the) (?:user|mailbox|recipient|account)|mailbox size limit/i;

/** The mailbox does not exist (Exim "Unrouteable address", Sendmail "User unknown", Microsoft "mailbox unavailable"). */
export const NO_SUCH_USER =
  /no such (?:user|mailbox|recipient|address|account)|(?<!sender )(?:user|recipient|mailbox|address|addressee) (?:is )?unknown|unknown (?:user|recipient|mailbox|address|local part)|(?:does not|doesn't|not) exist|unroutea?ble|mailbox (?:unavailable|not found|does not)|no mailbox|invalid (?:recipient|mailbox|address|user)|(?:recipient|user|address|mailbox) not found|not a valid (?:mailbox|recipient|user)|undeliverable address|mailbox name not allowed|(?:doesn't|does not) have an? [\w.-]{0,40} ?account/i;

/** A refusal in words of policy that does not say whose: not about the mailbox (Exim "Administrative prohibition"). */
export const POLICY_REFUSAL =
  /administrative prohibition|access denied|prohibited|not (?:allowed|authori[sz]ed|permitted)|denied|\bpolic(?:y|ies)\b|forbidden|refused|banned|blocked/i;

/** The refusal speaks of the sender (ours, or <>), not the recipient: "Sender domain does not exist". */
export const ABOUT_SENDER = /\bsender\b|\bmail from\b|envelope from|return[- ]path|reverse[- ]path/i;
