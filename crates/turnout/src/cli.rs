//! The command line: `turnout serve`, `turnout check-zone`, and the commands that talk to the
//! API (`zone`, `record`, `change`, `import`, `export`, `apply`) or to a stopped node's store
//! (`store export|import`).
//!
//! Exit codes: 0 success; 1 a failure while running (a listener died), errors found by
//! `check-zone`, or a request the API refused; 2 bad usage, configuration or input file
//! (nothing was changed); 3 the API or store could not be reached.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Turnout: an authoritative DNS server with health-checked failover.
#[derive(Debug, Parser)]
#[command(
    name = "turnout",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("TURNOUT_COMMIT"), ")"),
    about,
    propagate_version = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve DNS and the API until SIGTERM or SIGINT; SIGHUP reloads the zone files and the API
    /// certificates.
    Serve(ServeArgs),
    /// Check RFC 1035 zone files and list every error with its line.
    CheckZone(CheckZoneArgs),
    /// Create, list, show and delete zones.
    #[command(subcommand)]
    Zone(ZoneCommand),
    /// List, create or replace, and delete record sets.
    #[command(subcommand)]
    Record(RecordCommand),
    /// Show a change batch's status.
    #[command(subcommand)]
    Change(ChangeCommand),
    /// List health checks and show what they observe.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Load an RFC 1035 zone file into a zone (created if missing), in batches.
    Import(ImportArgs),
    /// Print a zone as a zone file or as a desired-state YAML file.
    Export(ExportArgs),
    /// Make the configuration match a desired-state file (YAML or JSON): prints the plan,
    /// applies it with --yes.
    Apply(ApplyArgs),
    /// Back up or restore a stopped node's whole store as JSON.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Show the answer a query gets now and why: each policy decision, each candidate record
    /// with its health and the check observations behind it.
    Explain(ExplainArgs),
    /// Read and flip routing controls (through the routing-control API, `--controls URL`).
    #[command(subcommand)]
    Control(ControlCommand),
    /// List, add and delete the safety rules of a control panel.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Run failover drills and read their outcomes (drills are defined with `turnout apply`).
    #[command(subcommand)]
    Drill(DrillCommand),
    /// List, create, rotate and delete scoped API tokens (admin token only).
    #[command(subcommand)]
    Token(TokenCommand),
    /// The nodes sharing this node's store: regions, served revisions, lag.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// List, create and delete TSIG keys (RFC 8945) for zone transfers and NOTIFY; creating
    /// and deleting need the admin token.
    #[command(subcommand)]
    TsigKey(TsigKeyCommand),
    /// Sign zones with DNSSEC: enable, status, the DS for the parent, disable
    /// (docs/dnssec.md).
    #[command(subcommand)]
    Dnssec(DnssecCommand),
    /// The audit trail of every configuration write, newest first: who (the token), from
    /// where, what changed.
    Audit(AuditArgs),
    /// Print the shell completion script (bash, zsh or fish).
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Write the manual pages (turnout.1 and one per subcommand) into a directory.
    Man {
        /// Where to write them
        dir: PathBuf,
    },
}

/// Shells with completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// `turnout cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The nodes, their regions, the revision each serves, its lag and when it was last heard.
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `turnout audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only writes that changed this kind of object (zone, record_set, change, check,
    /// collection, panel, routing_control, token, ...)
    #[arg(long)]
    pub kind: Option<String>,
    /// Only writes that changed an object whose name contains this
    #[arg(long)]
    pub name: Option<String>,
    /// Only writes made with this token (its name)
    #[arg(long = "by", value_name = "TOKEN")]
    pub by: Option<String>,
    /// Only writes since this time (RFC 3339) or this long ago (24h)
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many writes (1 to 1000)
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Show each object's value before and after (text output)
    #[arg(long)]
    pub values: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Options of the commands that talk to the routing-control API.
#[derive(Debug, Args)]
pub struct ControlsArgs {
    /// The routing-control API's URL
    #[arg(
        long = "controls",
        value_name = "URL",
        env = "TURNOUT_CONTROLS",
        default_value = "http://127.0.0.1:8054"
    )]
    pub controls: String,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// How the API commands authenticate: the token, and the TLS trust and identity for an
/// `https://` API.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// The API token (a change to a control needs the controls or admin scope, a change to the
    /// configuration config or admin, a read any scope) [default: --token-file, else
    /// DATA_DIR/admin.token]
    #[arg(long, value_name = "TOKEN", env = "TURNOUT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the API token (its first line)
    #[arg(long, value_name = "FILE", env = "TURNOUT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// Where to find admin.token when neither --token nor --token-file is given
    #[arg(long, value_name = "DIR", env = "TURNOUT_DATA_DIR", default_value = "turnout-data")]
    pub data_dir: PathBuf,
    /// Trust only this CA (PEM) for an https:// API [default: the system's trust store]
    #[arg(long, value_name = "FILE", env = "TURNOUT_CACERT")]
    pub cacert: Option<PathBuf>,
    /// The client certificate (PEM) for an API that asks for one
    #[arg(long, value_name = "FILE", env = "TURNOUT_CLIENT_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM)
    #[arg(long, value_name = "FILE", env = "TURNOUT_CLIENT_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
}

/// `turnout control ...`.
#[derive(Debug, Subcommand)]
pub enum ControlCommand {
    /// List routing controls and their states (of one panel, or all).
    List {
        /// The panel
        panel: Option<String>,
        #[command(flatten)]
        args: ControlsArgs,
    },
    /// Show one routing control.
    Get {
        /// `panel/control`
        control: String,
        #[command(flatten)]
        args: ControlsArgs,
    },
    /// Turn a routing control On or Off, under the panel's safety rules.
    Set {
        /// `panel/control`
        control: String,
        /// `on` or `off`
        state: String,
        /// Why (required; kept in the audit trail)
        #[arg(long)]
        reason: String,
        /// Skip this safety rule for this change (repeatable; recorded in the audit trail)
        #[arg(long = "override", value_name = "RULE")]
        overrides: Vec<String>,
        /// Revert the change after this long (like 30m, 2h)
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
        /// Change nothing: say whether the rules would allow it, and every answer that would
        /// change
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        args: ControlsArgs,
    },
    /// Change several controls of one panel as one transaction, from a YAML or JSON file:
    /// `{states: {us-east: off, us-west: on}, reason: ..., override_rules: [...], for: 2h}`.
    Batch {
        /// The panel
        panel: String,
        /// The file
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Change nothing: say what would happen
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        args: ControlsArgs,
    },
    /// The audit trail of routing-control updates, newest first.
    History {
        /// Only this panel
        #[arg(long)]
        panel: Option<String>,
        /// At most this many records
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        args: ControlsArgs,
    },
}

/// `turnout rule ...` (through the configuration API).
#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// List a panel's safety rules.
    List {
        /// The panel
        panel: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Add a safety rule to a panel, from a YAML or JSON file holding one rule as in
    /// `control_panels[].rules[]`.
    Create {
        /// The panel
        panel: String,
        /// The file
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a safety rule.
    Delete {
        /// The panel
        panel: String,
        /// The rule
        rule: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `turnout token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List tokens (names and scopes).
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make a token; prints its secret once.
    Create {
        /// The token's name
        name: String,
        /// A scope: read, config, controls or admin (repeatable)
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Refuse the token after this long (like 12h, 90d) [default: never]
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// Also make an access key pair for the Route 53 API, with the token's scopes
        /// (docs/route53-api.md)
        #[arg(long)]
        route53: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Give a token a new secret (same name, scopes and expiry); the old one stops working at
    /// once. Rotating the token this command authenticates with from DATA_DIR/admin.token
    /// writes the new secret there.
    Rotate {
        /// The token's name
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a token.
    Delete {
        /// The token's name
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `turnout tsig-key`.
#[derive(Debug, Subcommand)]
pub enum TsigKeyCommand {
    /// List TSIG keys (names and algorithms; never secrets).
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create a key; without --secret-file a random secret is made and printed once.
    Create {
        /// The key's name, as the peer names it (e.g. xfr.example.com)
        name: String,
        /// hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1
        #[arg(long, default_value = "hmac-sha256")]
        algorithm: String,
        /// A file holding the base64 secret (as tsig-keygen or keymgr print it); - reads stdin
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a key no zone names.
    Delete {
        /// The key's name
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `turnout dnssec`.
#[derive(Debug, Subcommand)]
pub enum DnssecCommand {
    /// Sign a zone: the node makes its keys; every node signs answers to queries with the DO
    /// bit. Then give the parent the DS (`turnout dnssec ds ZONE`).
    Enable {
        /// The zone
        zone: String,
        /// ECDSAP256SHA256 (13) or ED25519 (15)
        #[arg(long, default_value = "ECDSAP256SHA256")]
        algorithm: String,
        /// csk (one key signs everything) or ksk-zsk (a key signing key and a zone signing key)
        #[arg(long, default_value = "csk")]
        scheme: String,
        /// TTL of DNSKEY, CDS and CDNSKEY
        #[arg(long, value_name = "SECONDS")]
        dnskey_ttl: Option<u32>,
        /// Seconds a change takes to reach every server of the zone, added to each wait of a
        /// rollover (default 60)
        #[arg(long, value_name = "SECONDS")]
        propagation_delay: Option<u32>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Roll a zone's keys: zsk (pre-publication; ends by itself), ksk or csk (double DS:
    /// give the parent the new DS, then `dnssec ds-seen`).
    Rollover {
        /// The zone
        zone: String,
        /// Which key: zsk, ksk or csk
        #[arg(long)]
        role: String,
        /// A CSK rollover to another algorithm: ECDSAP256SHA256 (13) or ED25519 (15)
        #[arg(long)]
        algorithm: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Confirm that the parent serves the new DS of a KSK or CSK rollover: the old key goes
    /// once resolvers can no longer hold the old DS.
    DsSeen {
        /// The zone
        zone: String,
        /// The TTL of the DS RRset at the parent (default 86400)
        #[arg(long, value_name = "SECONDS")]
        parent_ds_ttl: Option<u32>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Whether a zone is signed, its public keys and its DS.
    Status {
        /// The zone
        zone: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the DS records to give the zone's parent (SHA-256), one per line.
    Ds {
        /// The zone
        zone: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Stop signing a zone and delete its keys: only after its DS is gone from the parent and
    /// the DS's TTL has passed (docs/dnssec.md).
    Disable {
        /// The zone
        zone: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Arguments of `turnout explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The query name
    pub name: String,
    /// The query type
    #[arg(default_value = "A")]
    pub rtype: String,
    /// The client's address (default: a client whose location is unknown)
    #[arg(long = "client", value_name = "IP")]
    pub client_ip: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Flags of `turnout serve`. Each overrides the config file; each has an environment variable.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to serve DNS on, UDP and TCP (repeatable; port 0 picks a free port)
    /// [default: 127.0.0.1:5300]
    #[arg(long = "dns", value_name = "ADDR", env = "TURNOUT_DNS", value_delimiter = ',')]
    pub dns: Vec<SocketAddr>,
    /// Address to serve the HTTP API on (port 0 picks a free port) [default: 127.0.0.1:8053]
    #[arg(long = "api", value_name = "ADDR", env = "TURNOUT_API_LISTEN")]
    pub api: Option<SocketAddr>,
    /// Address to serve the routing-control API on (port 0 picks a free port)
    /// [default: 127.0.0.1:8054]
    #[arg(long = "controls", value_name = "ADDR", env = "TURNOUT_CONTROLS_LISTEN")]
    pub controls: Option<SocketAddr>,
    /// Address to serve the Route 53 API on (port 0 picks a free port; docs/route53-api.md)
    /// [default: off]
    #[arg(long = "route53", value_name = "ADDR", env = "TURNOUT_ROUTE53_LISTEN")]
    pub route53: Option<SocketAddr>,
    /// Directory of the embedded store and the admin token [default: ./turnout-data]
    #[arg(long, value_name = "DIR", env = "TURNOUT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Share state through an etcd cluster instead of the embedded store
    /// (etcd://h1:2379,h2:2379,h3:2379)
    #[arg(long, value_name = "URL", env = "TURNOUT_STORE")]
    pub store: Option<String>,
    /// This node's name in the cluster [default: the host name and the first DNS port]
    #[arg(long, value_name = "NAME", env = "TURNOUT_NODE_NAME")]
    pub node_name: Option<String>,
    /// This node's region (where it checks from) [default: default]
    #[arg(long, value_name = "NAME", env = "TURNOUT_REGION")]
    pub region: Option<String>,
    /// The local address health-check probes are sent from [default: the system's choice]
    #[arg(long, value_name = "IP", env = "TURNOUT_PROBE_SOURCE")]
    pub probe_source: Option<std::net::IpAddr>,
    /// Serve this RFC 1035 zone file (repeatable)
    #[arg(
        long = "zone-file",
        value_name = "FILE",
        env = "TURNOUT_ZONE_FILES",
        value_delimiter = ','
    )]
    pub zone_files: Vec<PathBuf>,
    /// Daemon settings file (TOML; see docs/configuration.md)
    #[arg(long, value_name = "FILE", env = "TURNOUT_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log lines as text or as JSON objects (docs/observability.md#logs) [default: text]
    #[arg(long, value_name = "FORMAT", env = "TURNOUT_LOG_FORMAT")]
    pub log_format: Option<crate::logging::Format>,
    /// UDP sockets (and threads) per DNS address [default: one per CPU]
    #[arg(long, value_name = "N", env = "TURNOUT_UDP_WORKERS")]
    pub udp_workers: Option<usize>,
    /// Check the configuration and the zone files, then exit without serving
    #[arg(long)]
    pub check_config: bool,
}

/// Flags of `turnout check-zone`.
#[derive(Debug, Args)]
pub struct CheckZoneArgs {
    /// The zone files
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The initial $ORIGIN, for files that use relative names without setting one
    #[arg(long, value_name = "NAME")]
    pub origin: Option<String>,
}

/// How every API command reaches the API and prints.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The API's URL
    #[arg(long, value_name = "URL", env = "TURNOUT_API", default_value = "http://127.0.0.1:8053")]
    pub api: String,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// The API's JSON.
    Json,
}

/// `turnout zone ...`.
#[derive(Debug, Subcommand)]
pub enum ZoneCommand {
    /// Create a zone with its SOA and NS records.
    Create {
        /// The zone's apex, e.g. example.com
        name: String,
        /// Free text
        #[arg(long)]
        comment: Option<String>,
        /// Makes a retried create safe: the same reference returns the zone it made
        #[arg(long)]
        caller_reference: Option<String>,
        /// An apex name server (repeatable) [default: ns1 and ns2 under the zone]
        #[arg(long = "name-server", value_name = "NAME")]
        name_servers: Vec<String>,
        /// Make it a secondary zone of this primary (address or address:port; repeatable,
        /// tried in order): its records come by zone transfer (docs/secondary-zones.md)
        #[arg(long = "secondary-of", value_name = "ADDRESS", conflicts_with = "name_servers")]
        secondary_of: Vec<String>,
        /// Sign the secondary zone's transfers with this TSIG key
        #[arg(long, value_name = "KEY", requires = "secondary_of")]
        secondary_key: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Make a secondary zone a zone managed here: its records stay as the last transfer left
    /// them, and no primary is asked again.
    Promote {
        /// The zone
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List zones.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one zone.
    Get {
        /// The zone
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete a zone (it must hold only its SOA and NS, unless --force).
    Delete {
        /// The zone
        name: String,
        /// Delete its record sets too
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a zone's outgoing transfers, or replace them when any setting is given: who may
    /// take AXFR/IXFR and which secondaries get NOTIFY (docs/transfers.md).
    Transfers {
        /// The zone
        name: String,
        /// Requests signed with this TSIG key may transfer, from anywhere (repeatable)
        #[arg(long = "allow-key", value_name = "KEY")]
        allow_keys: Vec<String>,
        /// Requests from this prefix may transfer, signed or not (repeatable)
        #[arg(long = "allow-prefix", value_name = "PREFIX")]
        allow_prefixes: Vec<String>,
        /// Requests signed with KEY from PREFIX may transfer (repeatable)
        #[arg(long = "allow-key-from", value_name = "KEY@PREFIX")]
        allow_key_from: Vec<String>,
        /// Send NOTIFY to this secondary (address or address:port; repeatable)
        #[arg(long = "notify", value_name = "ADDRESS")]
        notify: Vec<String>,
        /// Sign NOTIFY with this TSIG key
        #[arg(long, value_name = "KEY")]
        notify_key: Option<String>,
        /// How record sets with routing policies go out: `static` (the default: such a zone
        /// is not transferred) or `current-answers` (what a client of unknown location is
        /// answered now; every change of it is a new serial)
        #[arg(long, value_name = "MODE", value_parser = ["static", "current-answers"])]
        policy_mode: Option<String>,
        /// Remove every setting: nobody may transfer, no NOTIFY
        #[arg(long, conflicts_with_all = ["allow_keys", "allow_prefixes", "allow_key_from", "notify", "notify_key", "policy_mode"])]
        clear: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show which TSIG keys may change which records by RFC 2136 UPDATE, or replace the rules
    /// (docs/dynamic-updates.md).
    Updates {
        /// The zone
        name: String,
        /// A rule: KEY:NAMES:TYPES, names and types comma-separated, e.g.
        /// acme.key:_acme-challenge.*:TXT (repeatable; * for any name or any type)
        #[arg(long = "allow", value_name = "KEY:NAMES:TYPES")]
        allow: Vec<String>,
        /// Remove every rule: no key may update the zone
        #[arg(long, conflicts_with = "allow")]
        clear: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `turnout record ...`.
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// List a zone's record sets.
    List {
        /// The zone
        zone: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create or replace one record set.
    Upsert {
        /// The zone
        zone: String,
        #[command(flatten)]
        record: RecordArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete one record set (found by name, type and set id).
    Delete {
        /// The zone
        zone: String,
        /// The owner name (relative to the zone, or absolute with a trailing dot)
        name: String,
        /// The type
        #[arg(value_name = "TYPE")]
        rtype: String,
        /// The set identifier, for records with a routing policy
        #[arg(long)]
        set_id: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// A record set on the command line.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The owner name (relative to the zone, `@`, or absolute with a trailing dot)
    pub name: String,
    /// The type
    #[arg(value_name = "TYPE")]
    pub rtype: String,
    /// TTL in seconds (not for aliases)
    #[arg(long)]
    pub ttl: Option<i64>,
    /// One record's data (repeatable)
    #[arg(long = "value", value_name = "DATA")]
    pub values: Vec<String>,
    /// Set identifier (every policy but simple)
    #[arg(long)]
    pub set_id: Option<String>,
    /// Failover role: primary or secondary
    #[arg(long)]
    pub failover: Option<String>,
    /// Weight, 0-255
    #[arg(long)]
    pub weight: Option<i64>,
    /// Latency region
    #[arg(long)]
    pub region: Option<String>,
    /// Multivalue answer
    #[arg(long)]
    pub multivalue: bool,
    /// Health check name
    #[arg(long)]
    pub health_check: Option<String>,
    /// Alias target (a group of the same type in the zone)
    #[arg(long, value_name = "NAME")]
    pub alias: Option<String>,
    /// With --alias: healthy only while the target is
    #[arg(long)]
    pub evaluate_target_health: bool,
    /// The whole record set as JSON (the API's form), instead of the flags above
    #[arg(
        long,
        value_name = "JSON",
        conflicts_with_all = [
            "ttl", "values", "set_id", "failover", "weight", "region", "multivalue",
            "health_check", "alias", "evaluate_target_health",
        ]
    )]
    pub json: Option<String>,
}

/// `turnout change ...`.
#[derive(Debug, Subcommand)]
pub enum ChangeCommand {
    /// Show a change: PENDING until the DNS data plane serves it, then INSYNC.
    Get {
        /// The change id
        id: String,
        /// Wait (up to 30 s) until it is INSYNC
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `turnout drill ...` (drills are defined with `turnout apply`).
#[derive(Debug, Subcommand)]
pub enum DrillCommand {
    /// List drills: what each flips, its guard, schedule and last outcome.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Start a drill now (a token with the controls scope); with --wait, wait for its outcome
    /// and exit 1 unless it passed.
    Run {
        /// The drill
        name: String,
        /// Wait for the outcome
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Abort a drill's run under way: the flip is undone at once.
    Abort {
        /// The drill
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// A drill's runs, newest first: outcome, time to move, answers, guard.
    History {
        /// The drill
        name: String,
        /// At most this many runs
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// `turnout check ...` (checks are created and changed with `turnout apply`).
#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// List health checks.
    List {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a health check as written.
    Get {
        /// The check
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a check's status, its last results and its last failure.
    Status {
        /// The check
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a check's status transitions, newest first.
    History {
        /// The check
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Flags of `turnout import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The zone file
    pub file: PathBuf,
    /// The initial $ORIGIN, for files with relative names and no $ORIGIN (the zone is the
    /// owner of the file's SOA)
    #[arg(long, value_name = "NAME")]
    pub zone: Option<String>,
    /// Records per change batch (at most 1000; an UPSERT counts double)
    #[arg(long, default_value_t = 1000)]
    pub batch_records: usize,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Flags of `turnout export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The zone
    pub zone: String,
    /// Output format
    #[arg(long, value_enum, default_value = "zone")]
    pub format: ExportFormat,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// RFC 1035 zone file (record sets with a routing policy or an alias become comments)
    Zone,
    /// Desired-state YAML, every field (round-trips through `turnout apply`)
    Yaml,
}

/// Flags of `turnout apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The desired-state file (YAML, or JSON if it ends in .json)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Apply the plan (without it, only print it)
    #[arg(long)]
    pub yes: bool,
    /// Delete what the file does not name: record sets of the file's zones, and the health
    /// checks, CIDR collections and control panels those zones' records use
    #[arg(long)]
    pub prune: bool,
    /// With --prune, also delete every other health check, CIDR collection and control panel
    /// the file does not name (the file describes the whole node)
    #[arg(long, requires = "prune")]
    pub prune_all: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `turnout store ...` (the node must be stopped: the store file is locked while it runs).
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Print every key of the store as one JSON document.
    Export {
        /// The data directory
        #[arg(long, value_name = "DIR", env = "TURNOUT_DATA_DIR", default_value = "turnout-data")]
        data_dir: PathBuf,
    },
    /// Load a JSON export into an empty store.
    Import {
        /// The export file
        file: PathBuf,
        /// The data directory
        #[arg(long, value_name = "DIR", env = "TURNOUT_DATA_DIR", default_value = "turnout-data")]
        data_dir: PathBuf,
    },
}
