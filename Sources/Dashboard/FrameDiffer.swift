/// The bytes that turn the frame on screen into the next one, rewriting only the rows that changed.
///
/// Each changed row is written whole (rows are exactly the screen's width, so nothing needs erasing), after a
/// cursor move to its start. When the number of rows differs (a resize, the first frame) the screen is cleared
/// and every row written. Everything goes out in one string: one `write` per frame, so no half-drawn frame
/// is ever visible.
public enum FrameDiffer {
    /// The escape sequences and text that change `previous` into `next`; empty when nothing changed.
    public static func diff(from previous: [String], to next: [String]) -> String {
        let full = previous.count != next.count
        var output = full ? "\u{1B}[0m\u{1B}[2J" : ""
        for (index, line) in next.enumerated() where full || previous[index] != line {
            output += "\u{1B}[\(index + 1);1H" + line
        }
        return output
    }

    /// The rows `diff` rewrites, for tests and statistics.
    public static func changedRows(from previous: [String], to next: [String]) -> [Int] {
        guard previous.count == next.count else { return Array(next.indices) }
        return next.indices.filter { previous[$0] != next[$0] }
    }
}
