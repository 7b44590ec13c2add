import Foundation
import GRDB
import Glibc
import Logging
import OrchestratorCore

/// Runtime state and the event log in one SQLite file (`state/state.sqlite`), shared safely by the
/// daemon and CLI processes.
///
/// The file is in WAL mode with a busy timeout, so readers never block the writer and concurrent
/// writers wait instead of failing; every write runs in an `IMMEDIATE` transaction (GRDB's default for
/// writes), so a read-modify-write can't lose an update to another process. On open the file's
/// integrity is checked: a damaged file is moved aside as `state.sqlite.corrupt-<timestamp>` and a new
/// one is created, with a warning.
public final class StateStore: Sendable {
    /// The database file.
    public let path: String
    private let pool: DatabasePool

    /// Frees what the connections keep between uses (SQLite's page caches; idle reader connections are
    /// closed). They come back on the next read or write.
    public func releaseMemory() {
        pool.releaseMemory()
    }

    /// How long a writer waits for another process's write before failing.
    public static let busyTimeout: TimeInterval = 10

    /// Opens (creating and migrating when needed) the store at `path`.
    ///
    /// - Returns: the store and the warnings a user should see (a damaged file moved aside).
    public static func open(
        path: String, logger: Logger = Logger(label: "llama-orch.state")
    ) throws(StateStoreError)
        -> (store: StateStore, warnings: [String])
    {
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(path, reason: "cannot create folder \(folder): \(error.localizedDescription)")
        }
        var warnings: [String] = []
        do {
            return (try StateStore(path: path), warnings)
        } catch let error as StateStoreError {
            throw error
        } catch {
            guard Self.isDamage(error) else { throw .cannotOpen(path, reason: "\(error)") }
            let aside = Self.moveAside(path)
            let warning =
                "state store \(path) was damaged (\(Self.describe(error))); moved it to \(aside) and started a new one"
            logger.warning("\(warning)")
            warnings.append(warning)
        }
        do {
            return (try StateStore(path: path), warnings)
        } catch {
            throw .cannotOpen(path, reason: "\(error)")
        }
    }

    private init(path: String) throws {
        self.path = path
        // The runs' environments are in it (tokens among them): the owner's only, whoever opens it first (a
        // command's reading can create it), with SQLite giving its -wal and -shm files the same mode.
        let created = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if created >= 0 { close(created) }
        for file in [path, path + "-wal", path + "-shm"] { chmod(file, 0o600) }
        var configuration = Configuration()
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.journalMode = .wal
        configuration.label = "llama-orch.state"
        // In WAL mode NORMAL never corrupts the file; a power cut may lose the last commits, which the daemon
        // rebuilds from the live processes. FULL would fsync every commit: milliseconds on each restart.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        pool = try DatabasePool(path: path, configuration: configuration)
        try pool.read { db in
            let result = try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no answer"
            if result != "ok" { throw IntegrityFailure(detail: result) }
        }
        try Self.migrator.migrate(pool)
    }

    private struct IntegrityFailure: Error, CustomStringConvertible {
        var detail: String
        var description: String { "integrity check failed: \(detail)" }
    }

    private static func isDamage(_ error: any Error) -> Bool {
        if error is IntegrityFailure { return true }
        if let error = error as? DatabaseError {
            return [.SQLITE_NOTADB, .SQLITE_CORRUPT].contains(error.resultCode)
        }
        return false
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return error.message ?? "\(error.resultCode)" }
        return "\(error)"
    }

    /// Moves the damaged file and its WAL companions aside; returns the new name of the main file.
    private static func moveAside(_ path: String) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd'T'HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        var aside = "\(path).corrupt-\(formatter.string(from: Date()))"
        var counter = 1
        while FileManager.default.fileExists(atPath: aside) {
            counter += 1
            aside = "\(path).corrupt-\(formatter.string(from: Date()))-\(counter)"
        }
        try? FileManager.default.moveItem(atPath: path, toPath: aside)
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            try? FileManager.default.moveItem(atPath: path + suffix, toPath: aside + suffix)
        }
        return aside
    }

    // MARK: Schema

    /// Versioned migrations; never edit a released one, add the next.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: instances, runs, events") { db in
            try db.create(table: "instances") { table in
                table.column("name", .text).primaryKey()
                table.column("desired_state", .text).notNull().defaults(to: DesiredState.stopped.rawValue)
                table.column("restart_count", .integer).notNull().defaults(to: 0)
                table.column("updated_at", .double).notNull()
            }
            try db.create(table: "runs") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("instance", .text).notNull().indexed()
                table.column("run_id", .text).notNull().unique()
                table.column("pid", .integer).notNull()
                table.column("process_group", .integer).notNull()
                table.column("process_start_time", .integer).notNull()
                table.column("port", .integer).notNull()
                table.column("argv", .text).notNull()
                table.column("environment", .text).notNull()
                table.column("placement", .text).notNull()
                table.column("started_at", .double).notNull()
                table.column("ended_at", .double)
                table.column("exit_status", .integer)
                table.column("exit_signal", .integer)
            }
            try db.create(table: "events") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("time", .double).notNull()
                table.column("instance", .text).notNull()
                table.column("kind", .text).notNull()
                table.column("message", .text).notNull()
                table.column("details", .text).notNull().defaults(to: "{}")
            }
            try db.create(index: "events_by_instance", on: "events", columns: ["instance", "id"])
        }
        // Self-contained: later migrations (router requests) come after it and touch other tables.
        migrator.registerMigration("v2: run fingerprints and measured allocations") { db in
            try db.alter(table: "runs") { table in
                // JSON of `RunFingerprint`; NULL for runs recorded before (their changes are unknown).
                table.add(column: "fingerprint", .text)
                // JSON of `MeasuredAllocation`; NULL until measured, and when nothing reliable was reported.
                table.add(column: "measured", .text)
                // JSON of `LogOffsets`: where the run's lines begin in its logs.
                table.add(column: "log_offsets", .text)
            }
        }
        migrator.registerMigration("router: requests") { db in
            try db.create(table: "router_requests") { table in
                table.autoIncrementedPrimaryKey("id")
                table.column("time", .double).notNull()
                table.column("model", .text).notNull()
                table.column("path", .text).notNull()
                table.column("status", .integer).notNull()
                table.column("prompt_tokens", .integer)
                table.column("completion_tokens", .integer)
                table.column("time_to_first_byte", .double)
                table.column("duration", .double).notNull()
            }
            try db.create(index: "router_requests_by_model", on: "router_requests", columns: ["model", "time"])
        }
        migrator.registerMigration("router: who started an instance") { db in
            try db.alter(table: "instances") { table in
                // 1 while the router started it (it unloads it when idle); 0 or NULL: the user did.
                table.add(column: "started_by_router", .boolean)
            }
        }
        return migrator
    }

    /// The migrations applied to the file, oldest first.
    public func appliedMigrations() throws(StateStoreError) -> [String] {
        try access { try pool.read { try Self.migrator.appliedMigrations($0) } }
    }

    // MARK: Instances

    /// Records what the user asked for an instance.
    public func setDesiredState(
        _ state: DesiredState, for instance: String, at time: Double = Date().timeIntervalSince1970
    )
        throws(StateStoreError)
    {
        try access {
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO instances (name, desired_state, updated_at) VALUES (?, ?, ?)
                        ON CONFLICT(name) DO UPDATE SET desired_state = excluded.desired_state, updated_at = excluded.updated_at
                        """,
                    arguments: [instance, state.rawValue, time])
            }
        }
    }

    /// The desired state of every instance the store knows.
    public func desiredStates() throws(StateStoreError) -> [String: DesiredState] {
        try access {
            try pool.read { db in
                var states: [String: DesiredState] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT name, desired_state FROM instances") {
                    states[row["name"]] = DesiredState(rawValue: row["desired_state"]) ?? .stopped
                }
                return states
            }
        }
    }

    /// Records whether the router started an instance (it may unload it) or the user did; it outlives a daemon's
    /// restart, which re-adopts the server.
    public func setStartedByRouter(
        _ byRouter: Bool, for instance: String, at time: Double = Date().timeIntervalSince1970
    ) throws(StateStoreError) {
        try access {
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO instances (name, started_by_router, updated_at) VALUES (?, ?, ?)
                        ON CONFLICT(name) DO UPDATE SET started_by_router = excluded.started_by_router, updated_at = excluded.updated_at
                        """,
                    arguments: [instance, byRouter, time])
            }
        }
    }

    /// The instances the router started, as recorded.
    public func startedByRouter() throws(StateStoreError) -> Set<String> {
        try access {
            try pool.read { db in
                Set(try String.fetchAll(db, sql: "SELECT name FROM instances WHERE started_by_router = 1"))
            }
        }
    }

    /// Adds one to an instance's restart counter and returns the new value, atomically across processes.
    @discardableResult
    public func incrementRestartCount(
        for instance: String, at time: Double = Date().timeIntervalSince1970
    )
        throws(StateStoreError) -> Int
    {
        try access {
            try pool.write { db in
                let current =
                    try Int.fetchOne(
                        db, sql: "SELECT restart_count FROM instances WHERE name = ?", arguments: [instance])
                let next = (current ?? 0) + 1
                try db.execute(
                    sql: """
                        INSERT INTO instances (name, restart_count, updated_at) VALUES (?, ?, ?)
                        ON CONFLICT(name) DO UPDATE SET restart_count = excluded.restart_count, updated_at = excluded.updated_at
                        """,
                    arguments: [instance, next, time])
                return next
            }
        }
    }

    /// The restart counter of an instance (0 when unknown).
    public func restartCount(for instance: String) throws(StateStoreError) -> Int {
        try access {
            try pool.read { db in
                try Int.fetchOne(db, sql: "SELECT restart_count FROM instances WHERE name = ?", arguments: [instance])
                    ?? 0
            }
        }
    }

    /// Every instance's restart counter, by name.
    public func restartCounts() throws(StateStoreError) -> [String: Int] {
        try access {
            try pool.read { db in
                var counts: [String: Int] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT name, restart_count FROM instances") {
                    counts[row["name"]] = row["restart_count"]
                }
                return counts
            }
        }
    }

    /// Sets an instance's restart counter back to 0 (after a stable run, or on `up`).
    public func resetRestartCount(for instance: String) throws(StateStoreError) {
        try access {
            try pool.write { db in
                try db.execute(sql: "UPDATE instances SET restart_count = 0 WHERE name = ?", arguments: [instance])
            }
        }
    }

    // MARK: Runs

    /// Records a started process; returns the run with its row id.
    public func recordRunStart(_ run: RunInfo) throws(StateStoreError) -> RunInfo {
        try access {
            try pool.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO runs (instance, run_id, pid, process_group, process_start_time, port, argv,
                                          environment, placement, started_at, fingerprint, measured, log_offsets)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        run.instance, run.runID, run.pid, run.processGroup, Int64(bitPattern: run.processStartTime),
                        run.port, try Self.json(run.argv), try Self.json(run.environment),
                        try Self.json(PlacementColumn(placement: run.placement, backend: run.backend)),
                        run.startedAt, try run.fingerprint.map(Self.json), try run.measured.map(Self.json),
                        try run.logOffsets.map(Self.json),
                    ])
                var recorded = run
                recorded.id = db.lastInsertedRowID
                return recorded
            }
        }
    }

    /// Records how a run ended. Ending an already ended run changes nothing.
    public func recordRunEnd(id: Int64, at time: Double, exitStatus: Int32?, exitSignal: Int32?) throws(StateStoreError)
    {
        try access {
            try pool.write { db in
                try db.execute(
                    sql:
                        "UPDATE runs SET ended_at = ?, exit_status = ?, exit_signal = ? WHERE id = ? AND ended_at IS NULL",
                    arguments: [time, exitStatus, exitSignal, id])
            }
        }
    }

    /// Records what a run's server reported it allocated. A run that already has a measurement keeps it.
    public func recordMeasurement(runID: String, _ measured: MeasuredAllocation) throws(StateStoreError) {
        try access {
            try pool.write { db in
                try db.execute(
                    sql: "UPDATE runs SET measured = ? WHERE run_id = ? AND measured IS NULL",
                    arguments: [try Self.json(measured), runID])
            }
        }
    }

    /// Runs with no recorded end (candidates for re-adoption), oldest first.
    public func openRuns() throws(StateStoreError) -> [RunInfo] {
        try fetchRuns(sql: "SELECT * FROM runs WHERE ended_at IS NULL ORDER BY id", arguments: [])
    }

    /// The latest runs of an instance, newest first.
    public func runs(of instance: String, limit: Int = 20) throws(StateStoreError) -> [RunInfo] {
        try fetchRuns(
            sql: "SELECT * FROM runs WHERE instance = ? ORDER BY id DESC LIMIT ?", arguments: [instance, limit])
    }

    private func fetchRuns(sql: String, arguments: StatementArguments) throws(StateStoreError) -> [RunInfo] {
        try access {
            try pool.read { db in
                try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                    // A placement an older daemon wrote in another shape is left out, not an error.
                    let placed = try? Self.decode(row["placement"] as String) as PlacementColumn
                    return RunInfo(
                        id: row["id"], instance: row["instance"], runID: row["run_id"], pid: row["pid"],
                        processGroup: row["process_group"],
                        processStartTime: UInt64(bitPattern: row["process_start_time"] as Int64), port: row["port"],
                        argv: try Self.decode(row["argv"]), environment: try Self.decode(row["environment"]),
                        placement: placed?.placement, backend: placed?.backend, startedAt: row["started_at"],
                        endedAt: row["ended_at"],
                        exitStatus: row["exit_status"], exitSignal: row["exit_signal"],
                        // Like the placement: a shape this daemon can't read is unknown, not an error.
                        fingerprint: (row["fingerprint"] as String?).flatMap { try? Self.decode($0) },
                        measured: (row["measured"] as String?).flatMap { try? Self.decode($0) },
                        logOffsets: (row["log_offsets"] as String?).flatMap { try? Self.decode($0) })
                }
            }
        }
    }

    // MARK: Events

    /// Appends an event; returns it with its row id.
    @discardableResult
    public func appendEvent(_ event: InstanceEvent) throws(StateStoreError) -> InstanceEvent {
        try access {
            try pool.write { db in
                try db.execute(
                    sql: "INSERT INTO events (time, instance, kind, message, details) VALUES (?, ?, ?, ?, ?)",
                    arguments: [event.time, event.instance, event.kind, event.message, try Self.json(event.details)])
                var recorded = event
                recorded.id = db.lastInsertedRowID
                return recorded
            }
        }
    }

    // MARK: Router requests

    /// Records proxied requests in one transaction, keeping the newest `keep` rows.
    public func appendRouterRequests(_ records: [RouterRequestRecord], keep: Int = 100_000) throws(StateStoreError) {
        guard !records.isEmpty else { return }
        try access {
            try pool.write { db in
                // One statement compiled for the batch (a parse per row was most of the write's time).
                let insert = try db.cachedStatement(
                    sql: """
                        INSERT INTO router_requests (time, model, path, status, prompt_tokens, completion_tokens,
                          time_to_first_byte, duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """)
                for record in records {
                    try insert.execute(
                        arguments: [
                            record.time, record.model, record.path, record.status, record.promptTokens,
                            record.completionTokens, record.timeToFirstByte, record.duration,
                        ])
                }
                try db.execute(
                    sql: "DELETE FROM router_requests WHERE id <= (SELECT MAX(id) FROM router_requests) - ?",
                    arguments: [keep])
            }
        }
    }

    /// Proxied requests since `time` (seconds since 1970), of one model or all, oldest first.
    public func routerRequests(
        since time: Double, model: String? = nil
    ) throws(StateStoreError)
        -> [RouterRequestRecord]
    {
        try access {
            try pool.read { db in
                let rows =
                    try model.map {
                        try Row.fetchAll(
                            db, sql: "SELECT * FROM router_requests WHERE model = ? AND time >= ? ORDER BY id",
                            arguments: [$0, time])
                    }
                    ?? Row.fetchAll(
                        db, sql: "SELECT * FROM router_requests WHERE time >= ? ORDER BY id", arguments: [time])
                return rows.map { row in
                    RouterRequestRecord(
                        time: row["time"], model: row["model"], path: row["path"], status: row["status"],
                        promptTokens: row["prompt_tokens"], completionTokens: row["completion_tokens"],
                        timeToFirstByte: row["time_to_first_byte"], duration: row["duration"])
                }
            }
        }
    }

    /// Per model, what the router served from `time` to `now` (requests that arrived in the window).
    public func routerTraffic(
        since time: Double, now: Double = Date().timeIntervalSince1970
    ) throws(StateStoreError) -> [String: RouterTraffic] {
        try access {
            try pool.read { db in
                var traffic: [String: RouterTraffic] = [:]
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT model, COUNT(*) AS requests, SUM(status >= 500) AS errors,
                          TOTAL(prompt_tokens) AS prompt, TOTAL(completion_tokens) AS completion
                        FROM router_requests WHERE time >= ? GROUP BY model
                        """,
                    arguments: [time])
                for row in rows {
                    traffic[row["model"]] = RouterTraffic(
                        window: max(0, now - time), requests: row["requests"], errors: row["errors"],
                        promptTokens: Int(row["prompt"] as Double), completionTokens: Int(row["completion"] as Double))
                }
                return traffic
            }
        }
    }

    /// The latest events, of one instance or of all, oldest first.
    public func events(of instance: String? = nil, limit: Int = 50) throws(StateStoreError) -> [InstanceEvent] {
        try access {
            try pool.read { db in
                let rows: [Row]
                if let instance {
                    rows = try Row.fetchAll(
                        db, sql: "SELECT * FROM events WHERE instance = ? ORDER BY id DESC LIMIT ?",
                        arguments: [instance, limit])
                } else {
                    rows = try Row.fetchAll(
                        db, sql: "SELECT * FROM events ORDER BY id DESC LIMIT ?", arguments: [limit])
                }
                return rows.reversed().map { row in
                    // Details an older daemon wrote in another shape are dropped, not an error.
                    InstanceEvent(
                        id: row["id"], time: row["time"], instance: row["instance"], kind: row["kind"],
                        message: row["message"], details: (try? Self.decode(row["details"] as String)) ?? [:])
                }
            }
        }
    }

    /// Throws `.notWritable` when the store can't be written (a read-only file or file system, an immutable file),
    /// which opening it does not tell: the daemon asks at start rather than failing at its first record.
    public func checkWritable() throws(StateStoreError) {
        do {
            try pool.write { db in
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                try db.execute(sql: "PRAGMA user_version = \(version)")
            }
        } catch {
            throw .notWritable(path, reason: Self.describe(error))
        }
    }

    /// How many events the store holds (of one instance, or all).
    public func eventCount(of instance: String? = nil) throws(StateStoreError) -> Int {
        try access {
            try pool.read { db in
                if let instance {
                    return try Int.fetchOne(
                        db, sql: "SELECT COUNT(*) FROM events WHERE instance = ?", arguments: [instance]) ?? 0
                }
                return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
            }
        }
    }

    // MARK: Helpers

    private func access<T>(_ body: () throws -> T) throws(StateStoreError) -> T {
        do {
            return try body()
        } catch let error as StateStoreError {
            throw error
        } catch {
            throw .failed(path, reason: Self.describe(error))
        }
    }

    private static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private static func decode<T: Decodable>(_ text: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }
}

/// The state store could not be opened or written.
public enum StateStoreError: OrchestratorError, Equatable {
    case cannotOpen(String, reason: String)
    /// Opened, but a write fails (`checkWritable`).
    case notWritable(String, reason: String)
    case failed(String, reason: String)

    public var exitCode: OrchestratorExitCode { .stateStore }

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            "cannot open the state store \(path): \(reason); check the folder's permissions and free disk space"
        case .notWritable(let path, let reason):
            "the state store \(path) cannot be written (\(reason)); make it and state/ writable by this user, on a "
                + "file system mounted read-write (an immutable file: chattr -i)"
        case .failed(let path, let reason):
            "state store \(path): \(reason)"
        }
    }
}

/// The `placement` column of a run: the scheduler's `Placement` with the backend beside its fields, one flat
/// JSON object (`{}` when the run has none).
struct PlacementColumn: Codable, Equatable {
    var placement: Placement?
    var backend: String?

    private enum CodingKeys: String, CodingKey { case backend }

    init(placement: Placement?, backend: String?) {
        self.placement = placement
        self.backend = backend
    }

    init(from decoder: any Decoder) throws {
        backend = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(String.self, forKey: .backend)
        placement = try? Placement(from: decoder)
    }

    func encode(to encoder: any Encoder) throws {
        try placement?.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(backend, forKey: .backend)
    }
}
