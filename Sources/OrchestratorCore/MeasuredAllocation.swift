/// What a running llama-server reported it allocated when it loaded, buffer by buffer: what `describe` puts beside
/// the estimate and what later placements count as held once it is known.
public struct MeasuredAllocation: Sendable, Equatable, Codable {
    /// What a buffer holds.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case model
        case kvCache = "kv_cache"
        case compute
        case output
    }

    /// One buffer line: `load_tensors: Vulkan0 model buffer size = 4403.49 MiB`.
    public struct Buffer: Sendable, Equatable, Codable {
        /// The buffer type as printed (`CPU_Mapped`, `Vulkan0`, `Vulkan_Host`, `CUDA0`).
        public var name: String
        public var kind: Kind
        public var bytes: UInt64

        public init(name: String, kind: Kind, bytes: UInt64) {
            self.name = name
            self.kind = kind
            self.bytes = bytes
        }

        /// The device the buffer lives on, as llama.cpp names it (`Vulkan0`); `nil` for host memory (`CPU`,
        /// `CPU_*`, `*_Host`). `_Mapped` and `_REPACK` suffixes are stripped from a device's name.
        public var device: String? {
            if name == "CPU" || name.hasPrefix("CPU_") || name.hasSuffix("_Host") { return nil }
            for suffix in ["_Mapped", "_REPACK"] where name.hasSuffix(suffix) {
                return String(name.dropLast(suffix.count))
            }
            return name
        }
    }

    public var buffers: [Buffer]
    /// Where the figures come from (`server log`).
    public var source: String

    public init(buffers: [Buffer], source: String) {
        self.buffers = buffers
        self.source = source
    }

    /// Bytes on one device (llama.cpp's name), or in host memory with `nil`.
    public func bytes(device: String?) -> UInt64 {
        buffers.filter { $0.device == device }.reduce(0) { $0 + $1.bytes }
    }

    /// The devices with buffers, by llama.cpp's name, in first-seen order (host memory left out).
    public var devices: [String] {
        var seen: [String] = []
        for case let device? in buffers.map(\.device) where !seen.contains(device) { seen.append(device) }
        return seen
    }

    /// Every buffer's bytes.
    public var totalBytes: UInt64 { buffers.reduce(0) { $0 + $1.bytes } }
}

extension Placement {
    /// The bytes this placement holds on the device with id `deviceID` (llama.cpp name `llamaName`), or in host
    /// memory when `isHost`: what was measured once it is known, the estimate before.
    ///
    /// The one rule every placement (`plan`, `up`, the router's admission) uses for memory a running instance
    /// holds.
    public func heldBytes(deviceID: String, isHost: Bool, measured: MeasuredAllocation?) -> UInt64 {
        if isHost { return measured?.bytes(device: nil) ?? hostBytes }
        let shares = shares.filter { $0.deviceID == deviceID }
        guard !shares.isEmpty else { return 0 }
        if let measured, let name = shares.first?.llamaName { return measured.bytes(device: name) }
        return shares.reduce(0) { $0 + $1.bytes }
    }
}

/// A device whose measured bytes exceed the estimate by more than `AllocationCheck.tolerance`.
public struct AllocationExcess: Sendable, Equatable {
    /// llama.cpp's device name, or `host`.
    public var device: String
    public var estimated: UInt64
    public var measured: UInt64

    public init(device: String, estimated: UInt64, measured: UInt64) {
        self.device = device
        self.estimated = estimated
        self.measured = measured
    }

    /// How far over the estimate, in percent.
    public var percentOver: Double {
        estimated == 0 ? .infinity : (Double(measured) / Double(estimated) - 1) * 100
    }
}

/// Compares a measured allocation with the placement's estimate, device by device.
public enum AllocationCheck {
    /// Measured bytes more than this fraction above the estimate are worth a report to the estimator.
    public static let tolerance = 0.10

    /// One entry per device (and host memory) of the placement, with the estimate and the measured bytes.
    public static func compare(
        _ placement: Placement, _ measured: MeasuredAllocation
    ) -> [(device: String, estimated: UInt64, measured: UInt64)] {
        var rows: [(device: String, estimated: UInt64, measured: UInt64)] = []
        for share in placement.shares {
            let name = share.llamaName ?? share.deviceID
            if let index = rows.firstIndex(where: { $0.device == name }) {
                rows[index].estimated += share.bytes
                continue
            }
            rows.append((name, share.bytes, measured.bytes(device: name)))
        }
        for device in measured.devices where !rows.contains(where: { $0.device == device }) {
            rows.append((device, 0, measured.bytes(device: device)))
        }
        rows.append(("host", placement.hostBytes, measured.bytes(device: nil)))
        return rows
    }

    /// The devices where the measured bytes exceed the estimate by more than `tolerance`.
    public static func excesses(_ placement: Placement, _ measured: MeasuredAllocation) -> [AllocationExcess] {
        compare(placement, measured).compactMap { row in
            Double(row.measured) > Double(row.estimated) * (1 + tolerance)
                ? AllocationExcess(device: row.device, estimated: row.estimated, measured: row.measured) : nil
        }
    }
}

extension AllocationCheck {
    /// Bytes in MiB with two decimals, as llama-server prints them.
    public static func mib(_ bytes: UInt64) -> String {
        let hundredths = (Double(bytes) / 1_048_576 * 100).rounded()
        let whole = Int(hundredths) / 100
        let fraction = Int(hundredths) % 100
        return "\(whole).\(fraction < 10 ? "0" : "")\(fraction) MiB"
    }

    /// A sentence for the event log and `describe`: a report for the estimator, with its numbers.
    public static func describe(_ excess: AllocationExcess) -> String {
        let over = excess.percentOver.isFinite ? "\(Int(excess.percentOver.rounded())) %" : "all of it"
        return "\(excess.device): measured \(mib(excess.measured)) against an estimate of \(mib(excess.estimated)) "
            + "(\(over) over, more than \(Int(tolerance * 100)) %): the estimator is short here, please report it"
    }
}
