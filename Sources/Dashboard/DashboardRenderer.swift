import ControlAPI
import Foundation
import OrchestratorCore
import Scheduler

/// The size of a terminal in character cells.
public struct TerminalSize: Sendable, Equatable {
    public var rows: Int
    public var columns: Int

    public init(rows: Int, columns: Int) {
        self.rows = rows
        self.columns = columns
    }
}

/// Draws a snapshot: `render(snapshot, state, size, color) -> lines`, pure.
///
/// Every line is exactly `size.columns` cells wide and there are exactly `size.rows` lines, so the frame
/// differ can compare them line by line. Colour (SGR codes) is added only when `color` is true; without it
/// nothing is lost: the selected row has a `>` marker and states are words.
public enum DashboardRenderer {
    /// The frame for a full-screen terminal.
    public static func render(
        _ snapshot: DashboardSnapshot, state: DashboardState, size: TerminalSize, color: Bool
    ) -> [String] {
        let width = max(1, size.columns)
        let height = max(1, size.rows)
        var body: [StyledLine]
        switch state.view {
        case .table: body = table(snapshot, state: state, width: width, height: height - 2)
        case .detail: body = detail(snapshot, state: state, width: width, height: height - 2)
        case .logs: body = logs(snapshot, state: state, height: height - 2)
        case .help: body = help()
        }
        body = Array(body.prefix(max(0, height - 2)))
        while body.count < height - 2 { body.append(StyledLine()) }
        var lines = [header(snapshot, width: width)] + body + [footer(snapshot, state: state)]
        lines = Array(lines.prefix(height))
        return lines.map { $0.render(width: width, color: color) }
    }

    /// The snapshot as text for `--once`: the header, the devices and the whole table, `width` cells wide,
    /// trailing spaces trimmed, no colour unless asked.
    public static func renderOnce(_ snapshot: DashboardSnapshot, width: Int, color: Bool = false) -> String {
        let state = DashboardState()
        // Tall enough that the devices' third of it holds them all.
        let height = max(4 + snapshot.devices.count + snapshot.instances.count + 4, 3 * (snapshot.devices.count + 1))
        var lines = [header(snapshot, width: width)]
        lines += table(snapshot, state: state, width: width, height: height, marker: false)
        for warning in snapshot.warnings { lines.append(StyledLine("warning: \(warning)", .colored(.yellow))) }
        return
            lines.map { line in
                var text = line.render(width: max(1, width), color: color)
                while text.hasSuffix(" ") { text.removeLast() }
                return text
            }.joined(separator: "\n") + "\n"
    }

    // MARK: Header and footer

    static func header(_ snapshot: DashboardSnapshot, width: Int) -> StyledLine {
        var line = StyledLine("llama-orch", .bold)
        line.add(" · daemon ")
        line.add(snapshot.daemon.summary, snapshot.daemon.running ? .colored(.green) : .colored(.yellow, bold: true))
        // Labelled: times here are UTC (alike on every machine), while `describe` shows local time.
        let clock = " " + clockText(snapshot.time) + " UTC"
        let room = width - line.cellWidth - TerminalText.width(of: clock)
        if room > 0 {
            line.add(String(repeating: " ", count: room))
            line.add(clock, .dim)
        }
        return line
    }

    /// `4 instances: 1 failed, 1 restarting, 1 loading, 1 healthy`: trouble first, so it survives a cut.
    static func counts(_ snapshot: DashboardSnapshot) -> StyledLine {
        let total = snapshot.instances.count
        var line = StyledLine("\(total) instance\(total == 1 ? "" : "s")", .bold)
        let counts = snapshot.countsByState.sorted {
            DashboardState.trouble($0.state) < DashboardState.trouble($1.state)
        }
        if !counts.isEmpty { line.add(":") }
        for (index, entry) in counts.enumerated() {
            line.add(index == 0 ? " " : ", ")
            line.add("\(entry.count) \(entry.state.rawValue)", stateStyle(entry.state))
        }
        return line
    }

    static func footer(_ snapshot: DashboardSnapshot, state: DashboardState) -> StyledLine {
        if let name = state.confirmingDown {
            return StyledLine("take \(name) down? y to confirm, any other key to cancel", .colored(.red, bold: true))
        }
        if state.editingFilter {
            var line = StyledLine("filter: ", .bold)
            line.add(state.filter + "▏")
            line.add("  Enter keep · Esc clear", .dim)
            return line
        }
        if let message = state.message { return StyledLine(message, .colored(.yellow)) }
        let hints: String
        switch state.view {
        case .table:
            hints =
                "q quit  ? help  Enter detail  s sort:\(state.sort.rawValue)  / filter"
                + (state.filter.isEmpty ? "" : ":\(state.filter)")
                + "  r restart  d down  u up  l log  ↑↓ select"
        case .detail, .logs:
            hints = "q quit  ? help  Esc back  l log/detail  r restart  d down  u up  ↑↓ instance"
        case .help:
            hints = "any key: back · q quit"
        }
        return StyledLine(hints, .dim)
    }

    // MARK: Table view

    static func table(
        _ snapshot: DashboardSnapshot, state: DashboardState, width: Int, height: Int, marker: Bool = true
    ) -> [StyledLine] {
        var lines: [StyledLine] = []
        if let banner = snapshot.daemon.banner {
            lines.append(StyledLine(" " + banner + " ", TextStyle(color: .yellow, bold: true, inverse: true)))
        }
        lines.append(counts(snapshot))
        let rows = state.visibleRows(of: snapshot)
        // Devices get at most a third of the screen; the table is what people came for.
        let deviceRoom = max(1, height / 3)
        let devices = snapshot.devices
        let shownDevices = devices.count <= deviceRoom ? devices : Array(devices.prefix(max(0, deviceRoom - 1)))
        let legendOrder = snapshot.instances.map(\.name)
        for device in shownDevices {
            lines.append(gauge(device, order: legendOrder, width: width))
        }
        if shownDevices.count < devices.count {
            lines.append(StyledLine("… \(devices.count - shownDevices.count) more devices", .dim))
        }
        if devices.isEmpty { lines.append(StyledLine("no device information", .dim)) }

        let routed = snapshot.instances.contains { $0.router != nil || $0.traffic != nil }
        let layout = ColumnLayout(width: width - (marker ? 2 : 0), routed: routed)
        var heading = StyledLine(marker ? "  " : "", .bold)
        heading.add(layout.heading(), .bold)
        lines.append(heading)
        if rows.isEmpty {
            lines.append(
                StyledLine(
                    snapshot.instances.isEmpty
                        ? "  no instances: create one with 'llama-orch init NAME --model PATH'"
                        : "  no instance matches the filter '\(state.filter)'", .dim))
            return lines
        }
        let selected = state.selectedRow(of: snapshot)?.name
        let room = max(1, height - lines.count)
        let selectedIndex = rows.firstIndex { $0.name == selected } ?? 0
        // Scroll so the selected row stays on screen.
        let first = rows.count <= room ? 0 : min(max(0, selectedIndex - room + 1), rows.count - room)
        for row in rows[first..<min(rows.count, first + room)] {
            let isSelected = marker && row.name == selected
            var line = StyledLine(base: isSelected ? .inverse : .plain)
            if marker { line.add(isSelected ? "> " : "  ", .bold) }
            layout.add(row, at: snapshot.time, to: &line)
            lines.append(line)
        }
        return lines
    }

    /// `Vulkan0  [111222222++.....] 17G/24G free 7.0G · 1 chat 5.0G · 2 code 9.0G · + other 3.0G`
    static func gauge(_ device: DeviceUsage, order: [String], width: Int) -> StyledLine {
        let barWidth = max(8, min(40, width / 5))
        let total = Double(max(device.totalBytes, 1))
        func cells(_ bytes: UInt64) -> Int { Int((Double(bytes) / total * Double(barWidth)).rounded()) }
        var line = StyledLine(pad(device.name, 8) + " [", .bold)
        var used = 0
        let holdings = device.holdings.sorted {
            (order.firstIndex(of: $0.instance) ?? Int.max) < (order.firstIndex(of: $1.instance) ?? Int.max)
        }
        for (index, holding) in holdings.enumerated() {
            let count = min(max(cells(holding.bytes), holding.bytes > 0 ? 1 : 0), barWidth - used)
            line.add(String(repeating: Character(legendMark(index)), count: count), holdingStyle(index))
            used += count
        }
        let other = min(cells(device.otherBytes), barWidth - used)
        line.add(String(repeating: "+", count: other), .dim)
        used += other
        line.add(String(repeating: ".", count: barWidth - used), .dim)
        line.add("] ", .bold)
        let inUse = device.freeBytes.map { device.totalBytes.subtractingClamped($0) } ?? device.heldBytes
        line.add("\(compactBytes(inUse))/\(compactBytes(device.totalBytes))")
        if let free = device.freeBytes { line.add(" free \(compactBytes(free))", .colored(.green)) }
        for (index, holding) in holdings.enumerated() {
            line.add(" · ")
            line.add(legendMark(index), holdingStyle(index))
            line.add(" \(holding.instance) \(compactBytes(holding.bytes))")
        }
        if device.otherBytes > 0 { line.add(" · + other \(compactBytes(device.otherBytes))", .dim) }
        return line
    }

    /// The mark of the n-th instance on a gauge: `1`…`9`, then `a`…`z`.
    static func legendMark(_ index: Int) -> String {
        let marks = Array("123456789abcdefghijklmnopqrstuvwxyz")
        return String(marks[index % marks.count])
    }

    static func holdingStyle(_ index: Int) -> TextStyle {
        let colors: [TextColor] = [.cyan, .magenta, .blue, .green, .yellow]
        return TextStyle(color: colors[index % colors.count], bold: true)
    }

    // MARK: Detail, logs and help views

    static func detail(
        _ snapshot: DashboardSnapshot, state: DashboardState, width: Int, height: Int
    ) -> [StyledLine] {
        guard let row = state.selectedRow(of: snapshot) else { return [StyledLine("no instance selected", .dim)] }
        var lines: [StyledLine] = []
        if let banner = snapshot.daemon.banner {
            lines.append(StyledLine(" " + banner + " ", TextStyle(color: .yellow, bold: true, inverse: true)))
        }
        var title = StyledLine(row.name, .bold)
        title.add("  ")
        title.add(row.state.rawValue, stateStyle(row.state))
        title.add(" · health \(row.health)")
        if let pid = row.pid { title.add(" · pid \(pid)") }
        if let port = row.port { title.add(" · port \(port)") }
        if let uptime = row.uptime(at: snapshot.time) { title.add(" · up \(ElapsedTime.text(uptime))") }
        title.add(" · restarts \(row.restarts)", row.isCrashLooping ? .colored(.red, bold: true) : .plain)
        lines.append(title)
        var model = StyledLine("model ", .bold)
        model.add(row.model)
        if let context = row.contextSize { model.add(" · context \(context)") }
        if let slots = row.slots { model.add(" · \(slots) slot\(slots == 1 ? "" : "s")") }
        model.add(" · memory \(memoryText(row))")
        lines.append(model)
        if row.router != nil || row.traffic != nil {
            var router = StyledLine("router ", .bold)
            router.add(row.router?.summary(at: snapshot.time) ?? "-")
            if let traffic = row.traffic {
                let window = Int(traffic.window.rounded())
                router.add(
                    " · last \(window) s: \(traffic.requests) request\(traffic.requests == 1 ? "" : "s")"
                        + (traffic.errors > 0 ? " (\(traffic.errors) failed)" : "")
                        + ", \(rateText(traffic.requestsPerSecond)) req/s, \(rateText(traffic.tokensPerSecond)) tok/s")
            }
            lines.append(router)
        }
        var placement = StyledLine("placement ", .bold)
        if let recorded = row.placement {
            var shares = recorded.shares.map { "\($0.llamaName ?? $0.deviceID) \(formatBytes($0.bytes))" }
            shares.append("host \(formatBytes(recorded.hostBytes))")
            placement.add(
                "\(recorded.mode.rawValue), \(recorded.offloadedUnits)/\(recorded.blockCount + 1) layers on GPU "
                    + "(\(shares.joined(separator: ", ")))")
            lines.append(placement)
            for reason in recorded.reasons.prefix(3) { lines.append(StyledLine("  - " + reason, .dim)) }
        } else {
            placement.add("\(row.backend):\(row.device) (no placement recorded)", .dim)
            lines.append(placement)
        }
        if !row.command.isEmpty {
            let command = "$ " + row.command.map(shellQuoted).joined(separator: " ")
            lines += wrap(command, width: width, limit: 3).map { StyledLine($0, .dim) }
        }
        lines.append(StyledLine("events (UTC)", .bold))
        let events = snapshot.events[row.name] ?? []
        let eventRoom = max(1, min(6, (height - lines.count) / 2))
        if events.isEmpty { lines.append(StyledLine("  none recorded", .dim)) }
        for event in events.suffix(eventRoom) {
            var line = StyledLine("  " + clockText(event.time) + " ", .dim)
            line.add(pad(event.kind, 13), eventStyle(event.kind))
            line.add(event.message)
            lines.append(line)
        }
        let tail = snapshot.logTail?.instance == row.name ? snapshot.logTail : nil
        lines.append(StyledLine("log " + (tail?.path ?? row.logPath ?? ""), .bold))
        let logRoom = max(0, height - lines.count)
        let logLines = tail?.lines ?? []
        if logLines.isEmpty && logRoom > 0 { lines.append(StyledLine("  (empty)", .dim)) }
        for text in logLines.suffix(logRoom) { lines.append(StyledLine("  " + text)) }
        return lines
    }

    static func logs(_ snapshot: DashboardSnapshot, state: DashboardState, height: Int) -> [StyledLine] {
        guard let row = state.selectedRow(of: snapshot) else { return [StyledLine("no instance selected", .dim)] }
        let tail = snapshot.logTail?.instance == row.name ? snapshot.logTail : nil
        var title = StyledLine("\(row.name) ", .bold)
        title.add(row.state.rawValue, stateStyle(row.state))
        title.add("  " + (tail?.path ?? row.logPath ?? "no log"), .dim)
        let lines = tail?.lines ?? []
        if lines.isEmpty { return [title, StyledLine("(empty)", .dim)] }
        return [title] + lines.suffix(max(0, height - 1)).map { StyledLine($0) }
    }

    static func help() -> [StyledLine] {
        let keys: [(String, String)] = [
            ("↑ ↓ PgUp PgDn", "select an instance"),
            ("Enter", "details: placement, command line, events, log tail"),
            ("Esc", "back to the table; clears the filter there"),
            ("s", "cycle the sort: name, state, memory, restarts, uptime"),
            ("/", "filter by name, model, device or state; Enter keeps it, Esc clears it"),
            ("r", "restart the selected instance"),
            ("d", "take it down (asks to confirm)"),
            ("u", "bring it up"),
            ("l", "its log, the whole screen"),
            ("?", "this help"),
            ("q  Ctrl-C", "quit"),
        ]
        var lines = [StyledLine("keys", .bold), StyledLine()]
        for (key, meaning) in keys {
            var line = StyledLine("  " + pad(key, 16), .colored(.cyan, bold: true))
            line.add(meaning)
            lines.append(line)
        }
        lines.append(StyledLine())
        lines.append(
            StyledLine(
                "gauges: 1 2 3 … memory each instance holds (by its placement), + used by others, . free", .dim))
        lines.append(StyledLine("MEM: estimated/reported by the server; RST: restarts since the last reset", .dim))
        return lines
    }

    // MARK: Formatting

    static func stateStyle(_ state: InstanceState) -> TextStyle {
        switch state {
        case .healthy: .colored(.green, bold: true)
        case .loading, .starting: .colored(.cyan)
        case .restarting: .colored(.yellow, bold: true)
        case .unhealthy, .failed: .colored(.red, bold: true)
        case .stopped: .colored(.gray)
        }
    }

    static func eventStyle(_ kind: String) -> TextStyle {
        switch kind {
        case "exited", "launch-failed", "probe-failed": .colored(.red)
        case "state": .colored(.cyan)
        default: .plain
        }
    }

    /// `12:04:59` in UTC, so snapshots render alike everywhere.
    static func clockText(_ time: Double) -> String {
        let seconds = Int(time.rounded(.down)) % 86_400
        let clamped = seconds < 0 ? seconds + 86_400 : seconds
        return String(format: "%02d:%02d:%02d", clamped / 3600, clamped / 60 % 60, clamped % 60)
    }

    /// Short bytes for narrow columns: `512M`, `7.3G`, `24G`.
    static func compactBytes(_ bytes: UInt64) -> String {
        let mib = Double(bytes) / 1_048_576
        if mib < 1 { return bytes == 0 ? "0" : "<1M" }
        if mib < 1000 { return "\(Int(mib.rounded()))M" }
        let gib = mib / 1024
        if gib < 10 { return String(format: "%.1fG", gib) }
        return "\(Int(gib.rounded()))G"
    }

    /// Requests and generated tokens per second: `0.50 12.3`.
    static func trafficText(_ traffic: RouterTraffic) -> String {
        "\(rateText(traffic.requestsPerSecond)) \(rateText(traffic.tokensPerSecond))"
    }

    /// A rate in three or four significant cells: `0.02`, `4.50`, `12.3`, `180`.
    static func rateText(_ rate: Double) -> String {
        String(format: rate >= 100 ? "%.0f" : rate >= 10 ? "%.1f" : "%.2f", rate)
    }

    static func memoryText(_ row: InstanceRow) -> String {
        let estimated = row.estimatedBytes.map(compactBytes) ?? "-"
        let reported = row.reportedBytes.map(compactBytes) ?? "-"
        return "\(estimated)/\(reported)"
    }

    static func pad(_ text: String, _ width: Int) -> String {
        let cells = TerminalText.width(of: text)
        return cells >= width ? text : text + String(repeating: " ", count: width - cells)
    }

    static func shellQuoted(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// `text` cut into lines of `width` cells (the last cut with `…` when more than `limit` lines are needed).
    static func wrap(_ text: String, width: Int, limit: Int) -> [String] {
        guard width > 1 else { return [text] }
        var lines: [String] = []
        var current = ""
        var cells = 0
        for character in text {
            let size = TerminalText.width(of: character)
            if cells + size > width {
                lines.append(current)
                current = ""
                cells = 0
            }
            current.append(character)
            cells += size
        }
        if !current.isEmpty { lines.append(current) }
        if lines.count > limit {
            lines = Array(lines.prefix(limit))
            lines[limit - 1] = String(lines[limit - 1].dropLast()) + "…"
        }
        return lines
    }
}
