import Foundation
import ProbeControl

extension ErrorReport {
    /// The refusal in a response, if it is one. A refusal is a two-field object of a few hundred
    /// bytes; a report can be megabytes (stats with thousands of series), and decoding all of it
    /// with a generic decoder only to find no `error` key took longer than probed took to write it.
    static func detect(in text: String) -> ErrorReport? {
        guard text.utf8.count <= 16_384, text.contains("\"error\":") else { return nil }
        return try? JSONDecoder.snakeCase.decode(ErrorReport.self, from: Data(text.utf8))
    }
}
