import OrchestratorCore

/// What the person at the dashboard has chosen: the view, the selected instance, the sort, the filter, a
/// question waiting for an answer, and the last message. Changed only by `DashboardState.reduce`.
public struct DashboardState: Sendable, Equatable {
    /// The screen shown.
    public enum View: String, Sendable, Equatable {
        /// The devices and the instance table.
        case table
        /// One instance: placement, command line, events, log tail.
        case detail
        /// One instance's log, the whole screen.
        case logs
        /// The keys.
        case help
    }

    /// The orders `s` cycles through.
    public enum SortKey: String, Sendable, Equatable, CaseIterable {
        /// By name, A to Z.
        case name
        /// Trouble first: failed, unhealthy, restarting, starting, loading, healthy, stopped.
        case state
        /// Most memory first.
        case memory
        /// Most restarts first.
        case restarts
        /// Longest up first.
        case uptime

        /// The next key in the cycle.
        public var next: SortKey {
            let all = Self.allCases
            let index = all.firstIndex(of: self) ?? 0
            return all[(index + 1) % all.count]
        }
    }

    public var view: View
    /// The view `help` returns to.
    public var previousView: View
    /// The selected instance, by name, so that a re-sort or a refresh keeps it.
    public var selected: String?
    public var sort: SortKey
    /// Instances whose name, model, device or state contains this (case-insensitive); empty shows all.
    public var filter: String
    /// Whether keys are being typed into the filter.
    public var editingFilter: Bool
    /// The instance `d` asked about; `y` takes it down, anything else cancels.
    public var confirmingDown: String?
    /// One line for the person: what an action did, why it could not.
    public var message: String?

    public init(
        view: View = .table, selected: String? = nil, sort: SortKey = .name, filter: String = "",
        editingFilter: Bool = false, confirmingDown: String? = nil, message: String? = nil
    ) {
        self.view = view
        previousView = .table
        self.selected = selected
        self.sort = sort
        self.filter = filter
        self.editingFilter = editingFilter
        self.confirmingDown = confirmingDown
        self.message = message
    }
}

/// What a key asks the loop to do beyond changing the state.
public enum DashboardAction: Sendable, Equatable {
    case quit
    case restart(String)
    case down(String)
    case up(String)
}

extension DashboardState {
    /// The rows the table shows, filtered and sorted.
    public func visibleRows(of snapshot: DashboardSnapshot) -> [InstanceRow] {
        let needle = filter.lowercased()
        let rows =
            needle.isEmpty
            ? snapshot.instances
            : snapshot.instances.filter { row in
                [row.name, row.model, row.device, row.backend, row.state.rawValue].contains {
                    $0.lowercased().contains(needle)
                }
            }
        let time = snapshot.time
        return rows.sorted { left, right in
            func byName() -> Bool { left.name < right.name }
            switch sort {
            case .name:
                return byName()
            case .state:
                let (a, b) = (Self.trouble(left.state), Self.trouble(right.state))
                return a != b ? a < b : byName()
            case .memory:
                let (a, b) = (left.estimatedBytes ?? 0, right.estimatedBytes ?? 0)
                return a != b ? a > b : byName()
            case .restarts:
                return left.restarts != right.restarts ? left.restarts > right.restarts : byName()
            case .uptime:
                let (a, b) = (left.uptime(at: time) ?? -1, right.uptime(at: time) ?? -1)
                return a != b ? a > b : byName()
            }
        }
    }

    /// The selected row among the visible ones: the one named by `selected`, else the first.
    public func selectedRow(of snapshot: DashboardSnapshot) -> InstanceRow? {
        let rows = visibleRows(of: snapshot)
        return rows.first { $0.name == selected } ?? rows.first
    }

    /// Lower is more trouble: the order of the `state` sort.
    static func trouble(_ state: InstanceState) -> Int {
        switch state {
        case .failed: 0
        case .unhealthy: 1
        case .restarting: 2
        case .starting: 3
        case .loading: 4
        case .healthy: 5
        case .stopped: 6
        }
    }

    /// The state after `key`, and the action the loop must carry out, if any. Pure: the snapshot is only read
    /// to know the visible rows.
    public static func reduce(
        _ state: DashboardState, _ key: DashboardKey, snapshot: DashboardSnapshot
    ) -> (DashboardState, DashboardAction?) {
        var next = state
        if key == .interrupt { return (next, .quit) }

        if let name = state.confirmingDown {
            next.confirmingDown = nil
            if key == .character("y") || key == .character("Y") {
                next.message = "taking \(name) down…"
                return (next, .down(name))
            }
            next.message = "\(name) left running"
            return (next, nil)
        }

        if state.editingFilter {
            switch key {
            case .enter:
                next.editingFilter = false
            case .escape:
                next.editingFilter = false
                next.filter = ""
            case .backspace:
                if !next.filter.isEmpty { next.filter.removeLast() }
            case .character(let character):
                next.filter.append(character)
            default:
                break
            }
            next.keepSelectionVisible(snapshot)
            return (next, nil)
        }

        if state.view == .help {
            if key == .character("q") { return (next, .quit) }
            next.view = state.previousView
            return (next, nil)
        }

        next.message = nil
        let rows = next.visibleRows(of: snapshot)
        let current = next.selectedRow(of: snapshot)
        let position = rows.firstIndex { $0.name == current?.name } ?? 0
        func select(_ index: Int) {
            guard !rows.isEmpty else { return }
            next.selected = rows[max(0, min(rows.count - 1, index))].name
        }

        switch key {
        case .up: select(position - 1)
        case .down: select(position + 1)
        case .pageUp: select(position - 10)
        case .pageDown: select(position + 10)
        case .home: select(0)
        case .end: select(rows.count - 1)
        case .enter:
            if state.view == .table, current != nil { next.view = .detail }
        case .escape, .backspace, .left:
            if state.view == .table {
                next.filter = ""
            } else {
                next.view = .table
            }
        case .character("q"):
            return (next, .quit)
        case .character("?"):
            next.previousView = state.view
            next.view = .help
        case .character("s"):
            if state.view == .table {
                next.sort = state.sort.next
                next.message = "sorted by \(next.sort.rawValue)"
            }
        case .character("/"):
            if state.view == .table {
                next.editingFilter = true
            }
        case .character("l"):
            if current != nil { next.view = state.view == .logs ? .detail : .logs }
        case .character("r"):
            if let name = current?.name { return (next, .restart(name)) }
        case .character("u"):
            if let name = current?.name { return (next, .up(name)) }
        case .character("d"):
            if let name = current?.name { next.confirmingDown = name }
        default:
            break
        }
        if next.selected == nil, let first = rows.first { next.selected = first.name }
        return (next, nil)
    }

    /// After the filter changed: select the first visible row when the selected one is filtered out.
    private mutating func keepSelectionVisible(_ snapshot: DashboardSnapshot) {
        let rows = visibleRows(of: snapshot)
        if !rows.contains(where: { $0.name == selected }) { selected = rows.first?.name }
    }
}
