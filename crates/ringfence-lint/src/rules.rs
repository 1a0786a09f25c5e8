//! The rules: what each statement locks and does to the table, and which of those are dangerous on a
//! live database. One pass over a script's statements, carrying what earlier statements established
//! (tables created here, `lock_timeout` set, a valid `CHECK (col IS NOT NULL)`, an open transaction
//! holding an ACCESS EXCLUSIVE lock).
//!
//! Not here: parsing and positions (`locate`), rendering (`report`).

use std::collections::{HashMap, HashSet};

use pg_query::protobuf::{
    AlterTableCmd, AlterTableType, ColumnDef, ConstrType, Constraint, DropStmt, IndexStmt, ObjectType, RangeVar,
    RenameStmt, TransactionStmtKind, TypeName, VariableSetKind, VariableSetStmt,
};
use pg_query::{Node, NodeEnum, NodeRef};
use serde::Serialize;

use crate::locate::Statement;
use crate::{Finding, LockMode, Options, Severity, TableWork};

/// A lint rule; its [`Rule::id`] is what findings, JSON and SARIF name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "&'static str")]
pub enum Rule {
    /// ADD COLUMN that rewrites the table: volatile default, stored generated, serial/identity
    /// (before PostgreSQL 11: any non-null default).
    AddColumnRewrite,
    /// SET NOT NULL scans the whole table under ACCESS EXCLUSIVE.
    SetNotNullScan,
    /// ADD CONSTRAINT FOREIGN KEY / CHECK validated immediately (no NOT VALID).
    ConstraintValidates,
    /// ADD UNIQUE / PRIMARY KEY / EXCLUDE builds its index under ACCESS EXCLUSIVE.
    ConstraintBuildsIndex,
    /// CREATE INDEX without CONCURRENTLY blocks writes while the index builds.
    CreateIndexNotConcurrent,
    /// DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table.
    DropIndexNotConcurrent,
    /// CONCURRENTLY inside a transaction block fails.
    ConcurrentlyInTransaction,
    /// ALTER COLUMN TYPE that rewrites (or may rewrite) the table.
    AlterColumnType,
    /// RENAME of a column or table breaks the previous release still running during a rollout.
    RenameColumnOrTable,
    /// DROP of a column or table breaks the previous release still running during a rollout.
    DropColumnOrTable,
    /// An ACCESS EXCLUSIVE lock requested without `SET lock_timeout` first.
    MissingLockTimeout,
    /// More statements run after an ACCESS EXCLUSIVE lock in the same transaction.
    LockHeldInTransaction,
    /// VACUUM FULL rewrites the table under ACCESS EXCLUSIVE.
    VacuumFull,
    /// CLUSTER rewrites the table under ACCESS EXCLUSIVE.
    Cluster,
    /// REINDEX without CONCURRENTLY blocks writes and index reads.
    ReindexNotConcurrent,
}

impl Rule {
    /// Every rule, in documentation order.
    pub const ALL: [Rule; 15] = [
        Rule::AddColumnRewrite,
        Rule::SetNotNullScan,
        Rule::ConstraintValidates,
        Rule::ConstraintBuildsIndex,
        Rule::CreateIndexNotConcurrent,
        Rule::DropIndexNotConcurrent,
        Rule::ConcurrentlyInTransaction,
        Rule::AlterColumnType,
        Rule::RenameColumnOrTable,
        Rule::DropColumnOrTable,
        Rule::MissingLockTimeout,
        Rule::LockHeldInTransaction,
        Rule::VacuumFull,
        Rule::Cluster,
        Rule::ReindexNotConcurrent,
    ];

    /// The kebab-case id, e.g. `set-not-null-scan`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::AddColumnRewrite => "add-column-rewrite",
            Rule::SetNotNullScan => "set-not-null-scan",
            Rule::ConstraintValidates => "constraint-validates",
            Rule::ConstraintBuildsIndex => "constraint-builds-index",
            Rule::CreateIndexNotConcurrent => "create-index-not-concurrent",
            Rule::DropIndexNotConcurrent => "drop-index-not-concurrent",
            Rule::ConcurrentlyInTransaction => "concurrently-in-transaction",
            Rule::AlterColumnType => "alter-column-type",
            Rule::RenameColumnOrTable => "rename-column-or-table",
            Rule::DropColumnOrTable => "drop-column-or-table",
            Rule::MissingLockTimeout => "missing-lock-timeout",
            Rule::LockHeldInTransaction => "lock-held-in-transaction",
            Rule::VacuumFull => "vacuum-full",
            Rule::Cluster => "cluster",
            Rule::ReindexNotConcurrent => "reindex-not-concurrent",
        }
    }

    /// One line saying what the rule looks for.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::AddColumnRewrite => {
                "ADD COLUMN that rewrites the table (volatile default, stored generated, serial/identity)"
            }
            Rule::SetNotNullScan => "SET NOT NULL scans the table under ACCESS EXCLUSIVE",
            Rule::ConstraintValidates => {
                "FOREIGN KEY / CHECK constraint added without NOT VALID scans the table under lock"
            }
            Rule::ConstraintBuildsIndex => {
                "UNIQUE / PRIMARY KEY / EXCLUDE constraint builds its index under ACCESS EXCLUSIVE"
            }
            Rule::CreateIndexNotConcurrent => "CREATE INDEX without CONCURRENTLY blocks writes while it builds",
            Rule::DropIndexNotConcurrent => "DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on the table",
            Rule::ConcurrentlyInTransaction => "CONCURRENTLY cannot run inside a transaction block",
            Rule::AlterColumnType => "ALTER COLUMN TYPE rewrites the table unless the change is binary-compatible",
            Rule::RenameColumnOrTable => {
                "RENAME of a column or table breaks the previous release during a rolling release"
            }
            Rule::DropColumnOrTable => "DROP of a column or table breaks the previous release during a rolling release",
            Rule::MissingLockTimeout => "ACCESS EXCLUSIVE lock requested without SET lock_timeout first",
            Rule::LockHeldInTransaction => "more statements after an ACCESS EXCLUSIVE lock in one transaction",
            Rule::VacuumFull => "VACUUM FULL rewrites the table under ACCESS EXCLUSIVE",
            Rule::Cluster => "CLUSTER rewrites the table under ACCESS EXCLUSIVE",
            Rule::ReindexNotConcurrent => "REINDEX without CONCURRENTLY blocks writes and reads through the index",
        }
    }
}

impl From<Rule> for &'static str {
    fn from(rule: Rule) -> Self {
        rule.id()
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// A finding before it is placed at its statement.
struct Hit {
    rule: Rule,
    object: Option<String>,
    lock: Option<LockMode>,
    work: TableWork,
    message: String,
    advice: String,
}

/// What one statement does: the strongest lock it takes on an existing object, and its dangers.
#[derive(Default)]
struct Effect {
    lock: Option<(LockMode, String)>,
    hits: Vec<Hit>,
}

impl Effect {
    fn lock(&mut self, mode: LockMode, object: &str) {
        if self.lock.as_ref().is_none_or(|(m, _)| mode > *m) {
            self.lock = Some((mode, object.to_string()));
        }
    }
}

/// A column type as written: last name part (`varchar`, `numeric`, …) and its modifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ColType {
    name: String,
    mods: Vec<i64>,
    array: bool,
}

/// What earlier statements of the script established.
struct State<'o> {
    options: &'o Options,
    /// Each snippet group is one transaction (Odoo migration scripts).
    implicit_transaction: bool,
    in_block: bool,
    lock_timeout: bool,
    lock_timeout_local: bool,
    timeout_reported: bool,
    /// The first ACCESS EXCLUSIVE lock of the open transaction: (line, col, object).
    exclusive_held: Option<(u32, u32, String)>,
    held_reported: bool,
    created_tables: HashSet<String>,
    column_types: HashMap<(String, String), ColType>,
    /// (table, column) with a valid CHECK (column IS NOT NULL).
    not_null_checks: HashSet<(String, String)>,
    /// (table, constraint) → column, for CHECK (column IS NOT NULL) NOT VALID awaiting VALIDATE.
    pending_checks: HashMap<(String, String), String>,
}

/// Runs every rule over a script's statements.
pub(crate) fn check(
    source: &str,
    statements: &[Statement],
    implicit_transaction: bool,
    options: &Options,
) -> Vec<Finding> {
    let mut state = State {
        options,
        implicit_transaction,
        in_block: false,
        lock_timeout: false,
        lock_timeout_local: false,
        timeout_reported: false,
        exclusive_held: None,
        held_reported: false,
        created_tables: HashSet::new(),
        column_types: HashMap::new(),
        not_null_checks: HashSet::new(),
        pending_checks: HashMap::new(),
    };
    let mut findings = Vec::new();
    for st in statements {
        let place = |hit: Hit| {
            let severity =
                if hit.rule == Rule::ConcurrentlyInTransaction { Severity::Error } else { Severity::Warning };
            Finding {
                rule: hit.rule,
                severity,
                source: source.to_string(),
                line: st.line,
                col: st.col,
                object: hit.object,
                lock: hit.lock,
                work: hit.work,
                message: hit.message,
                advice: hit.advice,
                statement: shorten(&st.text),
            }
        };
        if state.control(&st.node) {
            continue;
        }
        let effect = state.effect(&st.node);
        let in_transaction = state.in_block || state.implicit_transaction;
        if let (true, Some((line, col, object)), false) = (in_transaction, &state.exclusive_held, state.held_reported) {
            state.held_reported = true;
            findings.push(place(state.held_hit(*line, *col, object)));
        }
        for hit in effect.hits {
            findings.push(place(hit));
        }
        if let Some((LockMode::AccessExclusive, object)) = effect.lock {
            if !state.lock_timeout && !state.timeout_reported {
                state.timeout_reported = true;
                findings.push(place(state.timeout_hit(&object)));
            }
            if in_transaction && state.exclusive_held.is_none() {
                state.exclusive_held = Some((st.line, st.col, object));
            }
        }
    }
    findings
}

/// The statement, whitespace collapsed, at most 200 characters.
fn shorten(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= 200 { flat } else { flat.chars().take(199).chain(['…']).collect() }
}

fn rel_name(rel: Option<&RangeVar>) -> String {
    match rel {
        Some(r) if !r.schemaname.is_empty() => format!("{}.{}", r.schemaname, r.relname),
        Some(r) => r.relname.clone(),
        None => String::new(),
    }
}

fn strings(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .collect()
}

fn int_of(node: &Node) -> Option<i64> {
    match &node.node {
        Some(NodeEnum::AConst(c)) => match &c.val {
            Some(pg_query::protobuf::a_const::Val::Ival(i)) => Some(i64::from(i.ival)),
            _ => None,
        },
        Some(NodeEnum::Integer(i)) => Some(i64::from(i.ival)),
        _ => None,
    }
}

fn col_type(t: &TypeName) -> ColType {
    let name = strings(&t.names).pop().unwrap_or_default().to_lowercase();
    ColType { name, mods: t.typmods.iter().filter_map(int_of).collect(), array: !t.array_bounds.is_empty() }
}

fn constraints(def: &ColumnDef) -> impl Iterator<Item = &Constraint> {
    def.constraints.iter().filter_map(|n| match &n.node {
        Some(NodeEnum::Constraint(c)) => Some(&**c),
        _ => None,
    })
}

fn contype(c: &Constraint) -> ConstrType {
    ConstrType::try_from(c.contype).unwrap_or(ConstrType::Undefined)
}

/// The column `c` when `expr` is exactly `c IS NOT NULL`.
fn is_not_null_check(expr: Option<&Node>) -> Option<String> {
    let Some(NodeEnum::NullTest(t)) = expr.and_then(|e| e.node.as_ref()) else { return None };
    if t.nulltesttype != pg_query::protobuf::NullTestType::IsNotNull as i32 {
        return None;
    }
    match t.arg.as_deref().and_then(|a| a.node.as_ref()) {
        Some(NodeEnum::ColumnRef(c)) => strings(&c.fields).pop(),
        _ => None,
    }
}

/// How a column default behaves when the column is added to existing rows.
enum DefaultKind {
    /// NULL: nothing to store.
    Null,
    /// A constant, or an expression evaluated once (non-volatile): no rewrite from PostgreSQL 11.
    NonVolatile,
    /// Evaluated per row: rewrite. Holds the function name, and whether volatility is known.
    Volatile(String, bool),
}

/// Functions known to be volatile (evaluated per row when used as a default).
const VOLATILE: &[&str] = &[
    "random",
    "random_normal",
    "gen_random_uuid",
    "uuidv4",
    "uuidv7",
    "uuid_generate_v1",
    "uuid_generate_v1mc",
    "uuid_generate_v4",
    "clock_timestamp",
    "timeofday",
    "nextval",
    "setval",
    "txid_current",
    "pg_current_xact_id",
];

/// Functions known to be immutable or stable (evaluated once for all existing rows).
const NON_VOLATILE: &[&str] = &[
    "now",
    "transaction_timestamp",
    "statement_timestamp",
    "current_setting",
    "lower",
    "upper",
    "concat",
    "coalesce",
    "to_char",
    "to_date",
    "to_timestamp",
    "date_trunc",
    "timezone",
    "make_date",
    "make_interval",
    "json_build_object",
    "jsonb_build_object",
    "json_build_array",
    "jsonb_build_array",
    "array_fill",
    "length",
    "abs",
    "round",
];

fn default_kind(expr: &Node) -> DefaultKind {
    let Some(e) = &expr.node else { return DefaultKind::Null };
    if let NodeEnum::AConst(c) = e
        && c.isnull
    {
        return DefaultKind::Null;
    }
    let mut unknown = None;
    for (node, ..) in e.nodes() {
        if let NodeRef::FuncCall(f) = node {
            let name = strings(&f.funcname).pop().unwrap_or_default().to_lowercase();
            if VOLATILE.contains(&name.as_str()) {
                return DefaultKind::Volatile(name, true);
            }
            if !NON_VOLATILE.contains(&name.as_str()) && unknown.is_none() {
                unknown = Some(name);
            }
        }
    }
    match unknown {
        Some(name) => DefaultKind::Volatile(name, false),
        None => DefaultKind::NonVolatile,
    }
}

const SERIAL: &[&str] = &["serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"];

/// Whether changing a column from `old` to `new` keeps the stored bytes (no rewrite, no scan).
fn binary_compatible(old: &ColType, new: &ColType) -> bool {
    if old.array != new.array {
        return false;
    }
    let widened = |o: &[i64], n: &[i64]| n.is_empty() || (!o.is_empty() && n[0] >= o[0]);
    match (old.name.as_str(), new.name.as_str()) {
        (a, b) if a == b && old.mods == new.mods => true,
        ("varchar", "varchar") | ("varbit", "varbit") => widened(&old.mods, &new.mods),
        ("varchar", "text") | ("text", "varchar") => new.mods.is_empty(),
        ("numeric", "numeric") => {
            new.mods.is_empty()
                || (old.mods.len() == new.mods.len()
                    && !old.mods.is_empty()
                    && new.mods[0] >= old.mods[0]
                    && old.mods.get(1) == new.mods.get(1))
        }
        ("cidr", "inet") => true,
        _ => false,
    }
}

impl State<'_> {
    fn pg(&self) -> u32 {
        self.options.pg_version
    }

    fn in_transaction(&self) -> bool {
        self.in_block || self.implicit_transaction
    }

    /// Handles transaction control and SET; true when the statement is one of those.
    fn control(&mut self, node: &NodeEnum) -> bool {
        match node {
            NodeEnum::TransactionStmt(t) => {
                match TransactionStmtKind::try_from(t.kind) {
                    Ok(TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart) => {
                        self.in_block = true;
                    }
                    Ok(
                        TransactionStmtKind::TransStmtCommit
                        | TransactionStmtKind::TransStmtRollback
                        | TransactionStmtKind::TransStmtPrepare,
                    ) => {
                        self.in_block = false;
                        self.exclusive_held = None;
                        self.held_reported = false;
                        if self.lock_timeout_local {
                            self.lock_timeout = false;
                            self.lock_timeout_local = false;
                        }
                    }
                    _ => {}
                }
                true
            }
            NodeEnum::VariableSetStmt(set) => {
                self.set(set);
                true
            }
            _ => false,
        }
    }

    fn set(&mut self, set: &VariableSetStmt) {
        let kind = VariableSetKind::try_from(set.kind).unwrap_or(VariableSetKind::Undefined);
        if kind == VariableSetKind::VarResetAll {
            self.lock_timeout = false;
            return;
        }
        if !set.name.eq_ignore_ascii_case("lock_timeout") {
            return;
        }
        let on = kind == VariableSetKind::VarSetValue
            && set.args.first().is_some_and(|a| match &a.node {
                Some(NodeEnum::AConst(c)) => match &c.val {
                    Some(pg_query::protobuf::a_const::Val::Ival(i)) => i.ival != 0,
                    Some(pg_query::protobuf::a_const::Val::Sval(s)) => {
                        let v = s.sval.trim();
                        !v.is_empty() && v.trim_start_matches('0').chars().next().is_some_and(|c| c.is_ascii_digit())
                    }
                    _ => false,
                },
                _ => false,
            });
        self.lock_timeout = on;
        self.lock_timeout_local = on && set.is_local;
    }

    fn timeout_hit(&self, object: &str) -> Hit {
        let tx = if self.pg() >= 17 {
            "; with PostgreSQL 17+ also SET transaction_timeout to bound the whole transaction"
        } else {
            ""
        };
        Hit {
            rule: Rule::MissingLockTimeout,
            object: Some(object.to_string()),
            lock: Some(LockMode::AccessExclusive),
            work: TableWork::None,
            message: format!(
                "requests ACCESS EXCLUSIVE on {object} with no lock_timeout: while it waits behind any open \
                 transaction, every later query on {object} queues behind it"
            ),
            advice: format!(
                "SET lock_timeout = '2s' (or SET LOCAL inside the transaction) before the first statement and \
                 retry the migration when it times out{tx}"
            ),
        }
    }

    fn held_hit(&self, line: u32, col: u32, object: &str) -> Hit {
        let tx =
            if self.pg() >= 17 { "; SET transaction_timeout (PostgreSQL 17+) caps how long it can last" } else { "" };
        Hit {
            rule: Rule::LockHeldInTransaction,
            object: Some(object.to_string()),
            lock: Some(LockMode::AccessExclusive),
            work: TableWork::None,
            message: format!(
                "runs while the ACCESS EXCLUSIVE lock on {object} taken at line {line}:{col} is still held: \
                 the lock lasts until COMMIT, so {object} is blocked for this statement too"
            ),
            advice: format!(
                "commit right after the statement that takes ACCESS EXCLUSIVE, or move it last in its \
                 transaction{tx}"
            ),
        }
    }

    /// The lock and dangers of one non-control statement.
    fn effect(&mut self, node: &NodeEnum) -> Effect {
        let mut e = Effect::default();
        match node {
            NodeEnum::CreateStmt(c) => {
                let table = rel_name(c.relation.as_ref());
                for elt in &c.table_elts {
                    if let Some(NodeEnum::ColumnDef(d)) = &elt.node
                        && let Some(t) = &d.type_name
                    {
                        self.column_types.insert((table.clone(), d.colname.clone()), col_type(t));
                    }
                }
                self.created_tables.insert(table);
            }
            NodeEnum::AlterTableStmt(a) => {
                let table = rel_name(a.relation.as_ref());
                let is_table = ObjectType::try_from(a.objtype) == Ok(ObjectType::ObjectTable);
                for cmd in &a.cmds {
                    if let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node {
                        self.alter_table_cmd(&table, cmd, &mut e);
                    }
                }
                if !is_table || self.created_tables.contains(&table) {
                    e = Effect::default();
                }
            }
            NodeEnum::IndexStmt(i) => self.create_index(i, &mut e),
            NodeEnum::DropStmt(d) => self.drop(d, &mut e),
            NodeEnum::RenameStmt(r) => self.rename(r, &mut e),
            NodeEnum::VacuumStmt(v) => {
                let full = v.options.iter().any(|o| match &o.node {
                    Some(NodeEnum::DefElem(d)) => {
                        d.defname == "full"
                            && !matches!(d.arg.as_deref().and_then(|a| a.node.as_ref()),
                                Some(NodeEnum::Boolean(b)) if !b.boolval)
                    }
                    _ => false,
                });
                if v.is_vacuumcmd && full {
                    let tables: Vec<String> = v
                        .rels
                        .iter()
                        .filter_map(|r| match &r.node {
                            Some(NodeEnum::VacuumRelation(vr)) => Some(rel_name(vr.relation.as_ref())),
                            _ => None,
                        })
                        .collect();
                    let object =
                        if tables.is_empty() { "every table of the database".to_string() } else { tables.join(", ") };
                    e.lock(LockMode::AccessExclusive, &object);
                    e.hits.push(Hit {
                        rule: Rule::VacuumFull,
                        object: Some(object.clone()),
                        lock: Some(LockMode::AccessExclusive),
                        work: TableWork::Rewrite,
                        message: format!(
                            "VACUUM FULL rewrites {object} under ACCESS EXCLUSIVE: no reads or writes until it ends"
                        ),
                        advice: "use plain VACUUM (no lock against reads and writes), or pg_repack / pg_squeeze to \
                                 reclaim space online"
                            .to_string(),
                    });
                }
            }
            NodeEnum::ClusterStmt(c) => {
                let object = match &c.relation {
                    Some(_) => rel_name(c.relation.as_ref()),
                    None => "every previously clustered table".to_string(),
                };
                e.lock(LockMode::AccessExclusive, &object);
                e.hits.push(Hit {
                    rule: Rule::Cluster,
                    object: Some(object.clone()),
                    lock: Some(LockMode::AccessExclusive),
                    work: TableWork::Rewrite,
                    message: format!("CLUSTER rewrites {object} in index order under ACCESS EXCLUSIVE"),
                    advice: "use pg_repack (online reordering), or run CLUSTER in a maintenance window".to_string(),
                });
            }
            NodeEnum::ReindexStmt(r) => {
                let concurrent = r
                    .params
                    .iter()
                    .any(|p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname == "concurrently"));
                let object = if r.relation.is_some() { rel_name(r.relation.as_ref()) } else { r.name.clone() };
                if concurrent {
                    if self.in_transaction() {
                        e.hits.push(self.concurrently_hit("REINDEX CONCURRENTLY", &object));
                    }
                } else {
                    e.lock(LockMode::Share, &object);
                    e.hits.push(Hit {
                        rule: Rule::ReindexNotConcurrent,
                        object: Some(object.clone()),
                        lock: Some(LockMode::Share),
                        work: TableWork::IndexBuild,
                        message: format!(
                            "REINDEX of {object} blocks writes to the table (SHARE) and, holding ACCESS EXCLUSIVE \
                             on each index it rebuilds, reads that would use that index"
                        ),
                        advice: "REINDEX … CONCURRENTLY (PostgreSQL 12+), outside a transaction block".to_string(),
                    });
                }
            }
            NodeEnum::TruncateStmt(t) => {
                for r in &t.relations {
                    if let Some(NodeEnum::RangeVar(rv)) = &r.node {
                        self.lock_existing(&mut e, LockMode::AccessExclusive, &rel_name(Some(rv)));
                    }
                }
            }
            NodeEnum::LockStmt(l) => {
                let mode = lock_from_pg(l.mode);
                for r in &l.relations {
                    if let Some(NodeEnum::RangeVar(rv)) = &r.node {
                        self.lock_existing(&mut e, mode, &rel_name(Some(rv)));
                    }
                }
            }
            NodeEnum::CreateTrigStmt(t) => {
                self.lock_existing(&mut e, LockMode::ShareRowExclusive, &rel_name(t.relation.as_ref()));
            }
            _ => {}
        }
        e
    }

    fn lock_existing(&self, e: &mut Effect, mode: LockMode, table: &str) {
        if !self.created_tables.contains(table) {
            e.lock(mode, table);
        }
    }

    fn concurrently_hit(&self, what: &str, object: &str) -> Hit {
        let why = if self.in_block {
            "inside BEGIN … COMMIT"
        } else {
            "in a migration script, which Odoo runs inside the module's transaction"
        };
        Hit {
            rule: Rule::ConcurrentlyInTransaction,
            object: Some(object.to_string()),
            lock: None,
            work: TableWork::None,
            message: format!("{what} cannot run inside a transaction block, and this one runs {why}: it fails"),
            advice: "run it on its own, outside any transaction (psql autocommit; in Odoo, a separate connection \
                     with autocommit, or a post-deployment step)"
                .to_string(),
        }
    }

    fn alter_table_cmd(&mut self, table: &str, cmd: &AlterTableCmd, e: &mut Effect) {
        let subtype = AlterTableType::try_from(cmd.subtype).unwrap_or(AlterTableType::Undefined);
        let def = cmd.def.as_deref().and_then(|d| d.node.as_ref());
        match subtype {
            AlterTableType::AtAddColumn => {
                e.lock(LockMode::AccessExclusive, table);
                if let Some(NodeEnum::ColumnDef(d)) = def {
                    self.add_column(table, d, e);
                }
            }
            AlterTableType::AtSetNotNull => {
                e.lock(LockMode::AccessExclusive, table);
                self.set_not_null(table, &cmd.name, e);
            }
            AlterTableType::AtAddConstraint => {
                if let Some(NodeEnum::Constraint(c)) = def {
                    self.add_constraint(table, c, None, e);
                }
            }
            AlterTableType::AtValidateConstraint => {
                e.lock(LockMode::ShareUpdateExclusive, table);
                if let Some(col) = self.pending_checks.remove(&(table.to_string(), cmd.name.clone())) {
                    self.not_null_checks.insert((table.to_string(), col));
                }
            }
            AlterTableType::AtAlterColumnType => {
                e.lock(LockMode::AccessExclusive, table);
                if let Some(NodeEnum::ColumnDef(d)) = def {
                    self.alter_type(table, &cmd.name, d, e);
                }
            }
            AlterTableType::AtDropColumn => {
                e.lock(LockMode::AccessExclusive, table);
                e.hits.push(Hit {
                    rule: Rule::DropColumnOrTable,
                    object: Some(format!("{table}.{}", cmd.name)),
                    lock: Some(LockMode::AccessExclusive),
                    work: TableWork::None,
                    message: format!(
                        "drops column {table}.{}: the previous release, still serving tenants during the rollout \
                         (and after a rollback of the app), fails on queries that name it",
                        cmd.name
                    ),
                    advice: "expand/contract: release code that no longer uses the column first, drop it in a \
                             later release"
                        .to_string(),
                });
            }
            AlterTableType::AtSetStatistics
            | AlterTableType::AtClusterOn
            | AlterTableType::AtDropCluster
            | AlterTableType::AtSetRelOptions
            | AlterTableType::AtResetRelOptions
            | AlterTableType::AtAttachPartition
            | AlterTableType::AtDetachPartitionFinalize => e.lock(LockMode::ShareUpdateExclusive, table),
            AlterTableType::AtEnableTrig
            | AlterTableType::AtEnableAlwaysTrig
            | AlterTableType::AtEnableReplicaTrig
            | AlterTableType::AtDisableTrig
            | AlterTableType::AtEnableTrigAll
            | AlterTableType::AtDisableTrigAll
            | AlterTableType::AtEnableTrigUser
            | AlterTableType::AtDisableTrigUser => e.lock(LockMode::ShareRowExclusive, table),
            _ => e.lock(LockMode::AccessExclusive, table),
        }
    }

    fn add_column(&mut self, table: &str, d: &ColumnDef, e: &mut Effect) {
        let column = format!("{table}.{}", d.colname);
        let ty = d.type_name.as_ref().map(col_type);
        let rewrite = |why: String, advice: &str| Hit {
            rule: Rule::AddColumnRewrite,
            object: Some(column.clone()),
            lock: Some(LockMode::AccessExclusive),
            work: TableWork::Rewrite,
            message: format!("adding {column} {why}, rewriting the table under ACCESS EXCLUSIVE"),
            advice: advice.to_string(),
        };
        let backfill = "add the column without a default (or with a constant one), set the default for new rows \
                        with ALTER COLUMN … SET DEFAULT, and backfill existing rows in small batches";
        if let Some(t) = &ty {
            if SERIAL.contains(&t.name.as_str()) {
                e.hits.push(rewrite(
                    format!("as {} fills every existing row from a sequence", t.name),
                    "add a plain integer column, create the sequence and SET DEFAULT nextval(…), then backfill \
                     existing rows in batches",
                ));
            }
            self.column_types.insert((table.to_string(), d.colname.clone()), t.clone());
        }
        for c in constraints(d) {
            match contype(c) {
                ConstrType::ConstrDefault => {
                    let Some(expr) = c.raw_expr.as_deref() else { continue };
                    match default_kind(expr) {
                        DefaultKind::Null => {}
                        DefaultKind::NonVolatile if self.pg() < 11 => e.hits.push(rewrite(
                            format!(
                                "with a default writes the default into every row before PostgreSQL 11 (target: {})",
                                self.pg()
                            ),
                            backfill,
                        )),
                        DefaultKind::NonVolatile => {}
                        DefaultKind::Volatile(f, true) => e
                            .hits
                            .push(rewrite(format!("with volatile default {f}() computes it for every row"), backfill)),
                        DefaultKind::Volatile(f, false) => e.hits.push(rewrite(
                            format!(
                                "with default {f}(), whose volatility the linter cannot know (a volatile default is \
                                 computed for every row)"
                            ),
                            backfill,
                        )),
                    }
                }
                ConstrType::ConstrGenerated if c.generated_kind != "v" => e.hits.push(rewrite(
                    "as a stored generated column computes it for every row".to_string(),
                    "add a plain column filled by a trigger for new rows and backfill existing rows in batches; \
                     or, on PostgreSQL 18+, a VIRTUAL generated column",
                )),
                ConstrType::ConstrIdentity => e.hits.push(rewrite(
                    "as an identity column fills every existing row from a sequence".to_string(),
                    "add a plain integer column, backfill it in batches, then ALTER COLUMN … ADD GENERATED … AS \
                     IDENTITY",
                )),
                ConstrType::ConstrCheck
                | ConstrType::ConstrForeign
                | ConstrType::ConstrPrimary
                | ConstrType::ConstrUnique => {
                    self.add_constraint(table, c, Some(&d.colname), e);
                }
                _ => {}
            }
        }
    }

    fn set_not_null(&mut self, table: &str, column: &str, e: &mut Effect) {
        if self.pg() >= 12 && self.not_null_checks.contains(&(table.to_string(), column.to_string())) {
            return;
        }
        let advice = if self.pg() >= 12 {
            format!(
                "ADD CONSTRAINT {column}_not_null CHECK ({column} IS NOT NULL) NOT VALID; VALIDATE CONSTRAINT \
                 {column}_not_null (SHARE UPDATE EXCLUSIVE: reads and writes go on); then SET NOT NULL skips the \
                 scan, and the CHECK can be dropped"
            )
        } else {
            format!(
                "PostgreSQL {} always scans for SET NOT NULL: enforce it with CHECK ({column} IS NOT NULL) \
                 added NOT VALID and then validated (no long lock) instead of NOT NULL; from PostgreSQL 12 that \
                 CHECK lets SET NOT NULL skip the scan",
                self.pg()
            )
        };
        e.hits.push(Hit {
            rule: Rule::SetNotNullScan,
            object: Some(format!("{table}.{column}")),
            lock: Some(LockMode::AccessExclusive),
            work: TableWork::Scan,
            message: format!("SET NOT NULL on {table}.{column} scans every row under ACCESS EXCLUSIVE"),
            advice,
        });
    }

    /// An added table constraint; `column` is set for a constraint written inline in ADD COLUMN.
    fn add_constraint(&mut self, table: &str, c: &Constraint, column: Option<&str>, e: &mut Effect) {
        let kind = contype(c);
        // Unnamed constraints get a name from PostgreSQL (e.g. `t_col_fkey`); the advice shows a placeholder.
        let (name, named) = if c.conname.is_empty() {
            ("<its name>".to_string(), String::new())
        } else {
            (c.conname.clone(), format!(" {}", c.conname))
        };
        match kind {
            ConstrType::ConstrForeign => {
                e.lock(LockMode::ShareRowExclusive, table);
                if !c.skip_validation {
                    let referenced = rel_name(c.pktable.as_ref());
                    e.hits.push(Hit {
                        rule: Rule::ConstraintValidates,
                        object: Some(table.to_string()),
                        lock: Some(LockMode::ShareRowExclusive),
                        work: TableWork::Scan,
                        message: format!(
                            "adds {} and checks every row of {table} at once, blocking writes to \
                             {table} and {referenced} (SHARE ROW EXCLUSIVE) until done",
                            if named.is_empty() { "a foreign key".to_string() } else { format!("foreign key{named}") }
                        ),
                        advice: format!(
                            "ADD CONSTRAINT … NOT VALID (brief lock), then in a separate transaction VALIDATE \
                             CONSTRAINT {name} (SHARE UPDATE EXCLUSIVE: writes go on)"
                        ),
                    });
                }
            }
            ConstrType::ConstrCheck => {
                e.lock(LockMode::AccessExclusive, table);
                let not_null_col = is_not_null_check(c.raw_expr.as_deref());
                if c.skip_validation {
                    if let Some(col) = not_null_col {
                        self.pending_checks.insert((table.to_string(), c.conname.clone()), col);
                    }
                } else {
                    if let Some(col) = not_null_col {
                        self.not_null_checks.insert((table.to_string(), col));
                    }
                    let advice = if column.is_some() {
                        "add the column first, then ADD CONSTRAINT … CHECK (…) NOT VALID and VALIDATE CONSTRAINT \
                         in a separate transaction"
                            .to_string()
                    } else {
                        format!(
                            "ADD CONSTRAINT … CHECK (…) NOT VALID (brief lock), then in a separate transaction \
                             VALIDATE CONSTRAINT {name} (SHARE UPDATE EXCLUSIVE: reads and writes go on)"
                        )
                    };
                    e.hits.push(Hit {
                        rule: Rule::ConstraintValidates,
                        object: Some(table.to_string()),
                        lock: Some(LockMode::AccessExclusive),
                        work: TableWork::Scan,
                        message: format!(
                            "adds {} and checks every row of {table} under ACCESS EXCLUSIVE",
                            if named.is_empty() {
                                "a check constraint".to_string()
                            } else {
                                format!("check constraint{named}")
                            }
                        ),
                        advice,
                    });
                }
            }
            ConstrType::ConstrPrimary | ConstrType::ConstrUnique | ConstrType::ConstrExclusion => {
                e.lock(LockMode::AccessExclusive, table);
                if !c.indexname.is_empty() {
                    return; // USING INDEX: the index was built beforehand.
                }
                let (what, article) = match kind {
                    ConstrType::ConstrPrimary => ("PRIMARY KEY", "a"),
                    ConstrType::ConstrUnique => ("UNIQUE", "a"),
                    _ => ("EXCLUDE", "an"),
                };
                let advice = if kind == ConstrType::ConstrExclusion {
                    "an exclusion constraint cannot adopt an existing index: add it in a maintenance window, or \
                     enforce the rule another way (e.g. a unique index built CONCURRENTLY on a derived key)"
                        .to_string()
                } else {
                    format!(
                        "CREATE UNIQUE INDEX CONCURRENTLY … outside a transaction, then ADD CONSTRAINT … {what} USING \
                         INDEX … (brief lock){}",
                        if kind == ConstrType::ConstrPrimary {
                            "; make the key columns NOT NULL first the scan-free way"
                        } else {
                            ""
                        }
                    )
                };
                e.hits.push(Hit {
                    rule: Rule::ConstraintBuildsIndex,
                    object: Some(table.to_string()),
                    lock: Some(LockMode::AccessExclusive),
                    work: TableWork::IndexBuild,
                    message: format!(
                        "adds {article} {what} constraint{} and builds its index under ACCESS EXCLUSIVE: no reads or writes \
                         on {table} until the build ends",
                        column.map(|c| format!(" on new column {c}")).unwrap_or_default()
                    ),
                    advice,
                });
            }
            ConstrType::ConstrNotnull => {
                e.lock(LockMode::AccessExclusive, table);
                if !c.skip_validation
                    && let Some(col) = strings(&c.keys).first()
                {
                    self.set_not_null(table, col, e);
                }
            }
            _ => e.lock(LockMode::AccessExclusive, table),
        }
    }

    fn alter_type(&mut self, table: &str, column: &str, d: &ColumnDef, e: &mut Effect) {
        let Some(new) = d.type_name.as_ref().map(col_type) else { return };
        let key = (table.to_string(), column.to_string());
        let old = self.column_types.insert(key, new.clone());
        let using = d.raw_default.is_some();
        let object = format!("{table}.{column}");
        let may_be_free = matches!(new.name.as_str(), "varchar" | "text" | "numeric" | "varbit" | "inet");
        let message = match (&old, using) {
            (_, true) => format!(
                "changes the type of {object} with USING, rewriting the table and its indexes under ACCESS EXCLUSIVE"
            ),
            (Some(old), false) if binary_compatible(old, &new) => return,
            (Some(old), false) => format!(
                "changes {object} from {} to {}, rewriting the table and its indexes under ACCESS EXCLUSIVE{}",
                show_type(old),
                show_type(&new),
                timestamptz_note(Some(old), &new, self.pg())
            ),
            (None, false) if may_be_free => format!(
                "changes the type of {object} to {}: a rewrite of the table and its indexes under ACCESS EXCLUSIVE \
                 unless the current type is binary-compatible (e.g. a shorter varchar, varchar to text, a smaller \
                 numeric precision), which this statement does not show",
                show_type(&new)
            ),
            (None, false) => format!(
                "changes the type of {object} to {}, rewriting the table and its indexes under ACCESS EXCLUSIVE{}",
                show_type(&new),
                timestamptz_note(None, &new, self.pg())
            ),
        };
        e.hits.push(Hit {
            rule: Rule::AlterColumnType,
            object: Some(object),
            lock: Some(LockMode::AccessExclusive),
            work: TableWork::Rewrite,
            message,
            advice: "add a new column of the new type, keep it in sync with a trigger, backfill in batches, then \
                     switch readers and drop the old column in a later release; only widening a varchar/numeric \
                     limit or varchar→text is free"
                .to_string(),
        });
    }

    fn create_index(&mut self, i: &IndexStmt, e: &mut Effect) {
        let table = rel_name(i.relation.as_ref());
        // Checked before the new-table exemption: CONCURRENTLY fails in a transaction on any table.
        if i.concurrent && self.in_transaction() {
            e.hits.push(self.concurrently_hit("CREATE INDEX CONCURRENTLY", &table));
        }
        if self.created_tables.contains(&table) {
            return;
        }
        if i.concurrent {
            e.lock(LockMode::ShareUpdateExclusive, &table);
            return;
        }
        e.lock(LockMode::Share, &table);
        e.hits.push(Hit {
            rule: Rule::CreateIndexNotConcurrent,
            object: Some(table.clone()),
            lock: Some(LockMode::Share),
            work: TableWork::IndexBuild,
            message: format!("builds an index on {table} under SHARE: inserts, updates and deletes wait until it ends"),
            advice: "CREATE INDEX CONCURRENTLY … outside a transaction block (SHARE UPDATE EXCLUSIVE: writes go \
                     on); on failure drop the INVALID index and retry"
                .to_string(),
        });
    }

    fn drop(&mut self, d: &DropStmt, e: &mut Effect) {
        let names: Vec<String> = d
            .objects
            .iter()
            .filter_map(|o| match &o.node {
                Some(NodeEnum::List(l)) => Some(strings(&l.items).join(".")),
                _ => None,
            })
            .collect();
        match ObjectType::try_from(d.remove_type) {
            Ok(ObjectType::ObjectTable) => {
                for table in names {
                    if self.created_tables.remove(&table) {
                        continue;
                    }
                    e.lock(LockMode::AccessExclusive, &table);
                    e.hits.push(Hit {
                        rule: Rule::DropColumnOrTable,
                        object: Some(table.clone()),
                        lock: Some(LockMode::AccessExclusive),
                        work: TableWork::None,
                        message: format!(
                            "drops table {table}: the previous release, still serving tenants during the rollout \
                             (and after a rollback of the app), fails on queries that use it"
                        ),
                        advice: "expand/contract: release code that no longer uses the table first, drop it in a \
                                 later release (a rollback then still has the data)"
                            .to_string(),
                    });
                }
            }
            Ok(ObjectType::ObjectIndex) => {
                let object = names.join(", ");
                if d.concurrent {
                    if self.in_transaction() {
                        e.hits.push(self.concurrently_hit("DROP INDEX CONCURRENTLY", &object));
                    }
                    return;
                }
                e.lock(LockMode::AccessExclusive, &object);
                e.hits.push(Hit {
                    rule: Rule::DropIndexNotConcurrent,
                    object: Some(object.clone()),
                    lock: Some(LockMode::AccessExclusive),
                    work: TableWork::None,
                    message: format!(
                        "DROP INDEX {object} takes ACCESS EXCLUSIVE on its table: quick once granted, but it waits \
                         behind every open transaction and everything queues behind it"
                    ),
                    advice: "DROP INDEX CONCURRENTLY … outside a transaction block".to_string(),
                });
            }
            _ => {}
        }
    }

    fn rename(&mut self, r: &RenameStmt, e: &mut Effect) {
        let table = rel_name(r.relation.as_ref());
        let what = match ObjectType::try_from(r.rename_type) {
            Ok(ObjectType::ObjectColumn) => format!("column {table}.{}", r.subname),
            Ok(ObjectType::ObjectTable) => format!("table {table}"),
            Ok(ObjectType::ObjectIndex | ObjectType::ObjectTabconstraint) => {
                e.lock(LockMode::ShareUpdateExclusive, &table);
                return;
            }
            _ => return,
        };
        if self.created_tables.contains(&table) {
            return;
        }
        e.lock(LockMode::AccessExclusive, &table);
        e.hits.push(Hit {
            rule: Rule::RenameColumnOrTable,
            object: Some(table.clone()),
            lock: Some(LockMode::AccessExclusive),
            work: TableWork::None,
            message: format!(
                "renames {what} to {}: the previous release, still serving tenants during the rollout, fails on \
                 every query that uses the old name",
                r.newname
            ),
            advice: "expand/contract: add the new name alongside the old (new column kept in sync, or a view for \
                     a table), move the code over, remove the old name in a later release"
                .to_string(),
        });
    }
}

/// From PostgreSQL 12, timestamp -> timestamptz keeps the bytes when the session's TimeZone is UTC:
/// a setting of the session running the migration, not of the statement, so it stays a finding.
fn timestamptz_note(old: Option<&ColType>, new: &ColType, pg: u32) -> &'static str {
    let from_timestamp = old.is_none_or(|o| o.name == "timestamp");
    if pg >= 12 && new.name == "timestamptz" && from_timestamp {
        " (from timestamp it skips the rewrite only when the session's TimeZone is UTC)"
    } else {
        ""
    }
}

fn show_type(t: &ColType) -> String {
    let mods = if t.mods.is_empty() {
        String::new()
    } else {
        format!("({})", t.mods.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
    };
    format!("{}{mods}{}", t.name, if t.array { "[]" } else { "" })
}

fn lock_from_pg(mode: i32) -> LockMode {
    match mode {
        1 => LockMode::AccessShare,
        2 => LockMode::RowShare,
        3 => LockMode::RowExclusive,
        4 => LockMode::ShareUpdateExclusive,
        5 => LockMode::Share,
        6 => LockMode::ShareRowExclusive,
        7 => LockMode::Exclusive,
        _ => LockMode::AccessExclusive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(name: &str, mods: &[i64]) -> ColType {
        ColType { name: name.to_string(), mods: mods.to_vec(), array: false }
    }

    #[test]
    fn binary_compatible_type_changes() {
        assert!(binary_compatible(&ty("varchar", &[10]), &ty("varchar", &[20])));
        assert!(!binary_compatible(&ty("varchar", &[20]), &ty("varchar", &[10])));
        assert!(binary_compatible(&ty("varchar", &[20]), &ty("text", &[])));
        assert!(!binary_compatible(&ty("text", &[]), &ty("varchar", &[20])));
        assert!(binary_compatible(&ty("numeric", &[10, 2]), &ty("numeric", &[12, 2])));
        assert!(!binary_compatible(&ty("numeric", &[10, 2]), &ty("numeric", &[12, 3])));
        assert!(!binary_compatible(&ty("int4", &[]), &ty("int8", &[])));
    }

    #[test]
    fn every_rule_has_a_distinct_id() {
        let ids: HashSet<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        assert_eq!(ids.len(), Rule::ALL.len());
    }
}
