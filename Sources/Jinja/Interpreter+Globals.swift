import Foundation

/// Global functions: Jinja's `range`, `namespace`, `dict`, and the ones transformers
/// adds for chat templates, `raise_exception` and `strftime_now`.
extension Interpreter {
    func callBuiltin(_ name: String, _ positional: [Value], _ keyword: [(String, Value)]) throws -> Value {
        switch name {
        case "range":
            return try range(positional)
        case "namespace", "dict":
            var o = OrderedObject()
            for arg in positional {
                guard case .object(let initial) = arg else {
                    throw TemplateError.runtime("\(name)() positional argument must be a mapping")
                }
                for (k, v) in initial.pairs { o[k] = v }
            }
            for (k, v) in keyword { o[k] = v }
            if name == "dict" {
                try checkNesting(o.values)
                return .object(o)
            }
            try checkCount(namespaces.count + 1)
            namespaces.append(o)
            return .handle(.init(kind: .namespace, id: namespaces.count - 1))
        case "raise_exception":
            let message = try positional.first.map { try str($0) } ?? ""
            throw TemplateError(.raised, message)
        case "strftime_now":
            guard case .string(let format)? = positional.first else {
                throw TemplateError.runtime("strftime_now() needs a format string")
            }
            return try produced(Interpreter.strftime(format, environment.now(), environment.timeZone))
        default:
            throw TemplateError.runtime("'\(name)' is not supported")
        }
    }

    private func range(_ args: [Value]) throws -> Value {
        let ints = try args.map { v -> Int in
            guard let i = v.asInt else { throw TemplateError.runtime("'\(v.typeName)' object cannot be interpreted as an integer") }
            return i
        }
        var start = 0, stop = 0, step = 1
        switch ints.count {
        case 1: stop = ints[0]
        case 2: start = ints[0]; stop = ints[1]
        case 3: start = ints[0]; stop = ints[1]; step = ints[2]
        default: throw TemplateError.runtime("range expected 1 to 3 arguments, got \(ints.count)")
        }
        guard step != 0 else { throw TemplateError.runtime("range() arg 3 must not be zero") }
        // Exact length in unsigned arithmetic, so hostile bounds can neither overflow
        // nor lose precision.
        let count: Int
        if step > 0 ? stop <= start : start <= stop {
            count = 0
        } else {
            let (span, overflow) = step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
            let length = overflow ? UInt.max : (UInt(span) + step.magnitude - 1) / step.magnitude
            guard length <= UInt(max(0, limits.maxLoopIterations)) else {
                throw TemplateError.limit("range longer than the \(limits.maxLoopIterations)-iteration limit")
            }
            count = Int(length)
        }
        try tick(count)
        var out: [Value] = []
        out.reserveCapacity(count)
        var v = start
        for _ in 0..<count {
            out.append(.int(v))
            v = v.addingReportingOverflow(step).partialValue
        }
        return .array(out)
    }

    private static let months = ["January", "February", "March", "April", "May", "June", "July",
                                 "August", "September", "October", "November", "December"]
    private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]

    /// C `strftime` for the directives chat templates use (plus glibc's `%-d` no-padding).
    static func strftime(_ format: String, _ date: Date, _ timeZone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let year = c.year ?? 1970, month = c.month ?? 1, day = c.day ?? 1
        let hour = c.hour ?? 0, minute = c.minute ?? 0, second = c.second ?? 0
        let weekday = (c.weekday ?? 1) - 1  // 0 = Sunday
        let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date) ?? 1
        func pad(_ v: Int, _ width: Int, _ padded: Bool) -> String {
            let s = String(v)
            return padded ? String(repeating: "0", count: max(0, width - s.count)) + s : s
        }
        var out = ""
        var it = format.unicodeScalars.makeIterator()
        while let ch = it.next() {
            guard ch == "%" else { out.unicodeScalars.append(ch); continue }
            guard var d = it.next() else { out += "%"; break }
            var padded = true
            if d == "-" {
                padded = false
                guard let n = it.next() else { out += "%-"; break }
                d = n
            }
            switch d {
            case "Y": out += String(year)
            case "y": out += pad(year % 100, 2, padded)
            case "m": out += pad(month, 2, padded)
            case "d": out += pad(day, 2, padded)
            case "e": out += padded ? (day < 10 ? " \(day)" : String(day)) : String(day)
            case "H": out += pad(hour, 2, padded)
            case "I": out += pad(hour % 12 == 0 ? 12 : hour % 12, 2, padded)
            case "M": out += pad(minute, 2, padded)
            case "S": out += pad(second, 2, padded)
            case "p": out += hour < 12 ? "AM" : "PM"
            case "j": out += pad(dayOfYear, 3, padded)
            case "B": out += months[month - 1]
            case "b", "h": out += String(months[month - 1].prefix(3))
            case "A": out += weekdays[weekday]
            case "a": out += String(weekdays[weekday].prefix(3))
            case "w": out += String(weekday)
            case "%": out += "%"
            default: out += "%" + (padded ? "" : "-") + String(d)
            }
        }
        return out
    }
}
