import Foundation
import OrchestratorCore
import Testing

/// The README documents what the code does: every exit code and every config field.
@Suite struct ReadmeTests {
    let readme = (try? String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)) ?? ""

    @Test func exitCodeTableMatchesTheCode() {
        #expect(!readme.isEmpty, "README.md not found at \(repositoryRoot)")
        for code in OrchestratorExitCode.allCases {
            #expect(
                readme.contains("| \(code.rawValue) | \(code.meaning) |"),
                "README lacks the row for exit code \(code.rawValue)")
        }
    }

    /// Every field that is not an object, with its JSON path (`model.context_size`).
    static func leafFields(_ fields: [ConfigField], prefix: String = "") -> [(key: String, field: ConfigField)] {
        fields.flatMap { field -> [(key: String, field: ConfigField)] in
            let key = prefix + field.key
            if case .object(let nested) = field.type { return leafFields(nested, prefix: key + ".") }
            return [(key, field)]
        }
    }

    @Test func everyConfigFieldIsDocumented() {
        for (key, _) in Self.leafFields(ConfigSpec.fields) {
            #expect(readme.contains("`\(key)`"), "README's config reference lacks `\(key)`")
        }
    }

    /// The reference's default column shows what `config schema` shows, both from `InstanceConfig.Defaults`.
    @Test func configReferenceShowsTheDefaults() throws {
        let rows = readme.split(separator: "\n").map {
            $0.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        for (key, field) in Self.leafFields(ConfigSpec.fields) {
            guard let shown = field.defaultValue else { continue }
            let row = try #require(
                rows.first { $0.count == 6 && $0[1].components(separatedBy: ", ").contains("`\(key)`") },
                "no README row for \(key)")
            #expect(row[3].replacingOccurrences(of: "`", with: "") == shown, "README's default for `\(key)`")
        }
    }
}
