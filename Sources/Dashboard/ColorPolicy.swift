/// Whether the dashboard may colour its output.
public enum ColorPolicy {
    /// Colour is on unless `--no-color` was passed, `NO_COLOR` is set to anything but the empty string
    /// (https://no-color.org), or the terminal is `dumb`.
    public static func allowed(noColorFlag: Bool, environment: [String: String]) -> Bool {
        if noColorFlag { return false }
        if let value = environment["NO_COLOR"], !value.isEmpty { return false }
        if environment["TERM"] == "dumb" { return false }
        return true
    }
}
