import Foundation
import OrchestratorCore

/// Reads `llama-server --list-devices` output, whatever the backend it was built with.
///
/// The lines look like `  CUDA0: NVIDIA GeForce RTX 4090 (24080 MiB, 23700 MiB free)` (ROCm, Vulkan, Metal,
/// SYCL alike), or `  (none)` when the binary has no GPU backend; CPU devices are never listed.
public enum ListDevicesParser {
    /// One listed device.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var description: String
        public var totalMiB: UInt64
        public var freeMiB: UInt64
    }

    /// The devices listed, or `nil` when the text has no `Available devices:` list at all.
    public static func parse(_ text: String) -> [Entry]? {
        var entries: [Entry] = []
        var sawList = false
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("Available devices") {
                sawList = true
                continue
            }
            guard sawList else { continue }
            if line == "(none)" { continue }
            if let entry = entry(line) { entries.append(entry) }
        }
        return sawList ? entries : nil
    }

    /// `NAME: DESCRIPTION (TOTAL MiB, FREE MiB free)`; the description may hold parentheses of its own.
    static func entry(_ line: String) -> Entry? {
        guard let colon = line.firstIndex(of: ":"), line.hasSuffix(" MiB free)"),
            let open = line.range(of: " (", options: .backwards)
        else { return nil }
        let name = line[..<colon]
        guard !name.isEmpty, !name.contains(" "), open.lowerBound > colon else { return nil }
        let figures = line[open.upperBound..<line.index(line.endIndex, offsetBy: -" MiB free)".count)]
        let parts = figures.components(separatedBy: " MiB, ")
        guard parts.count == 2, let total = UInt64(parts[0]), let free = UInt64(parts[1]) else { return nil }
        let description = line[line.index(after: colon)..<open.lowerBound].trimmingCharacters(in: .whitespaces)
        return Entry(name: String(name), description: description, totalMiB: total, freeMiB: free)
    }
}
