/// Durations for people, written alike by the CLI (`ps`, `describe`, `daemon status`, `up`) and the dashboard.
public enum ElapsedTime {
    /// `seconds` in its two largest units, cut down to whole units: `42s`, `3m12s`, `5h03m`, `2d04h`.
    ///
    /// Negative or non-finite values (a clock that stepped back, a missing start time) read as `0s`.
    public static func text(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds > 0 else { return "0s" }
        let total = Int(min(seconds, 1e15))
        func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(twoDigits(total % 60))s" }
        if total < 86_400 { return "\(total / 3600)h\(twoDigits(total % 3600 / 60))m" }
        return "\(total / 86_400)d\(twoDigits(total % 86_400 / 3600))h"
    }
}
