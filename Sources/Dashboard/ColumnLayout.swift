import ControlAPI
import OrchestratorCore

/// Which table columns fit a width, and how wide each is.
///
/// Columns are taken in order of importance (name, state, memory, restarts, model, device, health, port,
/// uptime, pid, context, then the router's two when it serves) while they fit; what is left widens the model,
/// router, name and device columns. The chosen columns are shown in the table's own order.
struct ColumnLayout {
    enum Column: CaseIterable {
        case name, state, health, pid, port, device, model, context, memory, router, traffic, uptime, restarts

        var title: String {
            switch self {
            case .name: "NAME"
            case .state: "STATE"
            case .health: "HEALTH"
            case .pid: "PID"
            case .port: "PORT"
            case .device: "BACKEND:DEV"
            case .model: "MODEL"
            case .context: "CTX×SLOTS"
            case .memory: "MEM EST/REP"
            case .router: "ROUTER"
            case .traffic: "REQ/S TOK/S"
            case .uptime: "UPTIME"
            case .restarts: "RST"
            }
        }

        /// The narrowest the column is shown.
        var minimum: Int {
            switch self {
            case .name: 8
            case .state: 10
            case .health: 9
            case .pid: 7
            case .port: 5
            case .device: 14
            case .model: 10
            case .context: 9
            case .memory: 11
            case .router: 8
            case .traffic: 11
            case .uptime: 6
            case .restarts: 3
            }
        }

        /// How far the column grows when there is room.
        var maximum: Int {
            switch self {
            case .name: 24
            case .model: 40
            case .device: 20
            case .router: 40
            default: minimum
            }
        }

        var alignRight: Bool {
            switch self {
            case .pid, .port, .memory, .traffic, .uptime, .restarts, .context: true
            default: false
            }
        }

        /// Most important first.
        static let byImportance: [Column] = [
            .name, .state, .memory, .restarts, .model, .device, .health, .port, .uptime, .pid, .context, .router,
            .traffic,
        ]
    }

    /// The chosen columns in display order, with their widths.
    let columns: [(column: Column, width: Int)]

    /// - Parameter routed: whether the router columns may be shown (some instance is known to the router).
    init(width: Int, routed: Bool = false) {
        var chosen: [Column: Int] = [:]
        var used = 0
        for column in Column.byImportance where routed || (column != .router && column != .traffic) {
            let needed = column.minimum + (chosen.isEmpty ? 0 : 1)
            if used + needed <= width {
                chosen[column] = column.minimum
                used += needed
            }
        }
        // Spare cells widen the growable columns: model first, then router, name and device.
        var spare = width - used
        for column in [Column.model, .router, .name, .device] where chosen[column] != nil {
            guard let current = chosen[column] else { continue }
            let extra = min(spare, column.maximum - current)
            chosen[column] = current + extra
            spare -= extra
        }
        if chosen.isEmpty { chosen[.name] = max(1, width) }
        columns = Column.allCases.compactMap { column in chosen[column].map { (column, $0) } }
    }

    func heading() -> String {
        columns.map { Self.fit($0.column.title, $0.width, right: $0.column.alignRight) }.joined(separator: " ")
    }

    /// Adds one instance's cells to `line`.
    func add(_ row: InstanceRow, at time: Double, to line: inout StyledLine) {
        for (index, entry) in columns.enumerated() {
            if index > 0 { line.add(" ") }
            let (text, style) = cell(entry.column, row, time: time)
            line.add(Self.fit(text, entry.width, right: entry.column.alignRight), style)
        }
    }

    private func cell(_ column: Column, _ row: InstanceRow, time: Double) -> (String, TextStyle) {
        switch column {
        case .name: return (row.name, .bold)
        case .state: return (row.state.rawValue, DashboardRenderer.stateStyle(row.state))
        case .health:
            let style: TextStyle =
                switch row.health {
                case "ok": .colored(.green)
                case "-": .dim
                case "loading", "starting": .colored(.cyan)
                default: .colored(.red)
                }
            return (row.health, style)
        case .pid: return (row.pid.map { String($0) } ?? "-", .plain)
        case .port: return (row.port.map { String($0) } ?? "-", .plain)
        case .device: return ("\(row.backend):\(row.device)", .plain)
        case .model: return (row.model, .plain)
        case .context:
            let context = row.contextSize.map { String($0) } ?? "-"
            let slots = row.slots.map { String($0) } ?? "-"
            return ("\(context)×\(slots)", .plain)
        case .memory: return (DashboardRenderer.memoryText(row), .plain)
        case .router:
            let text = row.router?.summary(at: time) ?? "-"
            return (text, text == "-" ? .dim : (row.router?.inFlight ?? 0) > 0 ? .colored(.cyan) : .plain)
        case .traffic:
            guard let traffic = row.traffic, traffic.requests > 0 else { return ("-", .dim) }
            return (DashboardRenderer.trafficText(traffic), traffic.errors > 0 ? .colored(.yellow) : .plain)
        case .uptime: return (row.uptime(at: time).map(ElapsedTime.text) ?? "-", .plain)
        case .restarts:
            let style: TextStyle =
                row.isCrashLooping ? .colored(.red, bold: true) : row.restarts > 0 ? .colored(.yellow) : .plain
            return (String(row.restarts), style)
        }
    }

    /// `text` in exactly `width` cells: cut with `…` or padded on the left or right.
    static func fit(_ text: String, _ width: Int, right: Bool) -> String {
        let cells = TerminalText.width(of: text)
        if cells > width {
            var result = ""
            var used = 0
            for character in text {
                let size = TerminalText.width(of: character)
                if used + size > width - 1 { break }
                result.append(character)
                used += size
            }
            return result + "…" + String(repeating: " ", count: max(0, width - 1 - used))
        }
        let padding = String(repeating: " ", count: width - cells)
        return right ? padding + text : text + padding
    }
}
