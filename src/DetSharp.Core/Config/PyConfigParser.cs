namespace DetSharp.Config;

/// <summary>
/// Evaluates an MMDetection 2.x <c>.py</c> config without executing code. Supports the subset configs use:
/// assignments, <c>dict(...)</c> with keywords and <c>**unpacking</c>, <c>{...}</c>, lists, tuples, strings
/// (implicit and <c>+</c> concatenation, f-strings), numbers and arithmetic, True/False/None, names defined earlier
/// in the same file, <c>name.update(dict)</c>, and list/dict comprehensions over config values (with the builtins
/// <c>range</c>, <c>enumerate</c> and <c>len</c>; see PyConfigParser.Comprehensions.cs). Anything else (imports, other
/// calls, statements) is reported as unsupported with the file, line and column.
/// </summary>
public sealed partial class PyConfigParser
{
    internal static readonly HashSet<string> Keywords =
    [
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
        "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
        "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
    ];

    private List<PyToken> _tokens;
    private readonly string _file;
    private readonly string _text;
    private int _index;
    private readonly ConfigDict _globals = new();
    private readonly ConfigBudget _budget = new();
    private int _depth;

    private PyConfigParser(string text, string file)
    {
        _text = text;
        _file = file;
        _tokens = PyLexer.Tokenize(text, file);
    }

    /// <summary>Evaluates config text; every top-level variable becomes a key (names starting with <c>__</c> excepted).</summary>
    public static ConfigDict Evaluate(string text, string file = "<config>")
    {
        var parser = new PyConfigParser(text, file);
        parser.ParseFile();
        var result = new ConfigDict();
        foreach (var (key, value) in parser._globals)
            if (!key.StartsWith("__", StringComparison.Ordinal)) result.Add(key, value);
        return result;
    }

    private PyToken Current => _tokens[_index];

    private PyToken Next() => _tokens[_index++];

    private void ParseFile()
    {
        while (Current.Kind != PyTokenKind.End)
        {
            if (Current.Kind == PyTokenKind.Newline || Current.Is(";"))
            {
                _index++;
                continue;
            }
            if (Current.Is(PyLexer.IndentMarker))
                throw Error(Current, "unexpected indent (configs are flat assignments; statements such as if/for/def are not supported)");
            ParseStatement();
            if (Current.Is(";")) continue;
            if (Current.Kind != PyTokenKind.Newline && Current.Kind != PyTokenKind.End)
                throw Unexpected(Current, "expected the end of the line");
        }
    }

    private void ParseStatement()
    {
        var start = Current;
        if (start.Kind == PyTokenKind.Name && Keywords.Contains(start.Text) && start.Text is not ("True" or "False" or "None"))
        {
            string what = start.Text switch
            {
                "import" or "from" => "imports are not supported in configs (a config cannot run code; use _base_ to reuse other configs)",
                "def" or "class" or "lambda" => $"'{start.Text}' is not supported in configs (a config holds data, not code)",
                _ => $"the '{start.Text}' statement is not supported in configs (only assignments such as 'name = value' are)",
            };
            throw Error(start, what);
        }

        // A statement is either "target = target = ... = value", "name op= value" or a bare expression.
        var targets = new List<PyToken>();
        while (Current.Kind == PyTokenKind.Name && _tokens[_index + 1].Is("="))
        {
            targets.Add(Current);
            _index += 2;
        }
        if (targets.Count == 0 && Current.Kind == PyTokenKind.Name && _tokens[_index + 1].Is(".")
            && _tokens[_index + 2].IsName("update") && _tokens[_index + 3].Is("("))
        {
            ParseUpdate();
            return;
        }
        if (targets.Count == 0 && Current.Kind == PyTokenKind.Name && _tokens[_index + 1].Kind == PyTokenKind.Op
            && _tokens[_index + 1].Text is "+=" or "-=" or "*=" or "/=" or "//=" or "%=" or "**=")
        {
            var name = Next();
            var op = Next();
            var left = Lookup(name);
            var right = ParseExpressionList();
            Assign(name, Arithmetic.Binary(op.Text[..^1], left, right, op, this));
            return;
        }
        var value = ParseExpressionList();
        if (Current.Is("="))
            throw Error(Current, "only plain names can be assigned in configs (not subscripts, attributes or tuples)");
        if (targets.Count == 0)
        {
            // A bare literal (e.g. a docstring) is harmless; anything else would need code execution.
            if (start.Kind == PyTokenKind.String) return;
            throw Error(start, "a config line must be an assignment such as 'name = value'");
        }
        foreach (var target in targets)
            Assign(target, targets.Count == 1 ? value : Clone(value, target));
    }

    private void Assign(PyToken target, object? value)
    {
        if (Keywords.Contains(target.Text))
            throw Error(target, $"cannot assign to the keyword '{target.Text}'");
        // Names nest values without nesting brackets (x1 = [x0]; x2 = [x1]; ...): bound the depth of what is stored.
        if (ConfigBudget.DepthOf(value) > ConfigBudget.MaxDepth)
            throw Error(target, ConfigBudget.TooDeep);
        _globals[target.Text] = value;
    }

    /// <summary>Counts <paramref name="size"/> built values against the file's <see cref="ConfigBudget"/>.</summary>
    internal void Spend(long size, PyToken at)
    {
        if (_budget.Spend(size) is { } message) throw Error(at, message);
    }

    /// <summary>A deep copy of a value (every use of a name copies it, as mmcv's configs behave), counted against the budget.</summary>
    private object? Clone(object? value, PyToken at)
    {
        if (value is ConfigDict or List<object?>) Spend(ConfigBudget.SizeOf(value), at);
        return ConfigValue.DeepClone(value);
    }

    private object? ParseExpressionList()
    {
        var first = ParseExpression();
        if (!Current.Is(",")) return first;
        var tuple = new ConfigTuple { first };
        while (Current.Is(","))
        {
            _index++;
            if (Current.Kind is PyTokenKind.Newline or PyTokenKind.End || Current.Is("=") || Current.Is(";")) break;
            tuple.Add(ParseExpression());
        }
        return tuple;
    }

    private object? ParseExpression()
    {
        var start = Current;
        var value = ParseArithmetic();
        if (Current.IsName("for") && _comprehensionDepth > 0) return value; // the end of a comprehension's element
        if (Current.Kind == PyTokenKind.Name && Current.Text is "if" or "for" or "and" or "or" or "in" or "is" or "not")
            throw Error(Current, Current.Text == "for"
                ? "comprehensions are not supported in configs; write the list out"
                : $"'{Current.Text}' expressions are not supported in configs");
        if (Current.Kind == PyTokenKind.Op && Current.Text is "==" or "!=" or "<" or ">" or "<=" or ">=" or "&" or "|" or "^" or "@" or "<<" or ">>" or ":=")
            throw Error(Current, $"the operator '{Current.Text}' is not supported in configs");
        _ = start;
        return value;
    }

    private object? ParseArithmetic()
    {
        var left = ParseTerm();
        while (Current.Is("+") || Current.Is("-"))
        {
            var op = Next();
            var right = ParseTerm();
            left = Arithmetic.Binary(op.Text, left, right, op, this);
        }
        return left;
    }

    private object? ParseTerm()
    {
        var left = ParseFactor();
        while (Current.Is("*") || Current.Is("/") || Current.Is("//") || Current.Is("%"))
        {
            var op = Next();
            var right = ParseFactor();
            left = Arithmetic.Binary(op.Text, left, right, op, this);
        }
        return left;
    }

    /// <summary>Every nested expression (brackets, dicts, unary and power operators) passes here: the depth is bounded here.</summary>
    private object? ParseFactor()
    {
        if (++_depth > ConfigBudget.MaxDepth) throw Error(Current, ConfigBudget.TooDeep);
        try
        {
            if (Current.Is("-") || Current.Is("+"))
            {
                var op = Next();
                var operand = ParseFactor();
                return Arithmetic.Unary(op.Text, operand, op, this);
            }
            if (Current.Is("~"))
                throw Error(Current, "the operator '~' is not supported in configs");
            if (Current.IsName("not"))
                throw Error(Current, "'not' expressions are not supported in configs");
            return ParsePower();
        }
        finally
        {
            _depth--;
        }
    }

    private object? ParsePower()
    {
        var baseValue = ParsePostfix();
        if (Current.Is("**"))
        {
            var op = Next();
            var exponent = ParseFactor();
            return Arithmetic.Binary("**", baseValue, exponent, op, this);
        }
        return baseValue;
    }

    private object? ParsePostfix()
    {
        var atomToken = Current;
        if (atomToken.Kind == PyTokenKind.Name && _tokens[_index + 1].Is("(") && !Keywords.Contains(atomToken.Text))
        {
            _index++;
            if (atomToken.Text is "range" or "enumerate" or "len")
                return ParseTrailers(ParseBuiltinCall(atomToken));
            if (atomToken.Text != "dict")
                throw Error(atomToken, $"calling '{atomToken.Text}(...)' is not supported in configs: only dict(...) is, and range/enumerate/len in comprehensions (a config cannot run code)");
            var value = ParseDictCall(atomToken);
            return ParseTrailers(value);
        }
        return ParseTrailers(ParseAtom());
    }

    private object? ParseTrailers(object? value)
    {
        while (true)
        {
            if (Current.Is("["))
            {
                var open = Next();
                var key = ParseExpression();
                if (Current.Is(":"))
                    throw Error(Current, "slices are not supported in configs");
                Expect("]");
                value = Subscript(value, key, open);
            }
            else if (Current.Is("."))
            {
                throw Error(Current, "attribute access ('.') is not supported in configs; use {{_base_.a.b}} to read a base config's value");
            }
            else if (Current.Is("("))
            {
                throw Error(Current, "calling a value is not supported in configs: only dict(...) is");
            }
            else return value;
        }
    }

    private object? Subscript(object? container, object? key, PyToken at)
    {
        switch (container)
        {
            case ConfigDict dict when key is string s:
                if (!dict.TryGetValue(s, out var v))
                    throw Error(at, $"key '{s}' not found in the dict (it has: {string.Join(", ", dict.Keys)})");
                return Clone(v, at);
            case List<object?> list when key is long i:
                long index = i < 0 ? list.Count + i : i;
                if (index < 0 || index >= list.Count)
                    throw Error(at, $"index {i} is out of range for a {ConfigValue.TypeName(container)} of {list.Count} elements");
                return Clone(list[(int)index], at);
            case string text when key is long j:
                long k = j < 0 ? text.Length + j : j;
                if (k < 0 || k >= text.Length) throw Error(at, $"string index {j} is out of range");
                return text[(int)k].ToString();
            default:
                throw Error(at, $"cannot index {ConfigValue.Describe(container)} with {ConfigValue.Describe(key)}");
        }
    }

    private ConfigDict ParseDictCall(PyToken callName)
    {
        Expect("(");
        var dict = new ConfigDict();
        while (!Current.Is(")"))
        {
            if (Current.Is("**"))
            {
                var star = Next();
                var other = ParseExpression();
                if (other is not ConfigDict source)
                    throw Error(star, $"'**' needs a dict, got {ConfigValue.Describe(other)}");
                Spend(ConfigBudget.SizeOf(source), star);
                foreach (var (key, value) in source)
                {
                    if (dict.ContainsKey(key))
                        throw Error(star, $"dict() got multiple values for keyword argument '{key}'");
                    dict.Add(key, ConfigValue.DeepClone(value));
                }
            }
            else if (Current.Kind == PyTokenKind.Name && _tokens[_index + 1].Is("="))
            {
                var key = Next();
                _index++;
                if (dict.ContainsKey(key.Text))
                    throw Error(key, $"dict() got multiple values for keyword argument '{key.Text}'");
                Spend(1, key);
                dict.Add(key.Text, ParseExpression());
            }
            else if (Current.Is("*"))
                throw Error(Current, "'*' unpacking is not supported in dict(...)");
            else if (dict.Count == 0 && !Current.Is(")") && _tokens[_index - 1].Is("("))
            {
                // dict({'a.b': 1}): how mmcv's pretty_text writes a dict whose keys are not identifiers.
                var at = Current;
                if (ParseExpression() is not ConfigDict source)
                    throw Error(at, "dict(...) takes a dict as its only positional argument");
                foreach (var (key, value) in source) dict.Add(key, value);
            }
            else
                throw Error(Current, "dict(...) in configs takes keyword arguments (key=value), **other_dict and one leading dict only");
            if (!Current.Is(",")) break;
            _index++;
        }
        Expect(")", $"expected ',' or ')' in the dict(...) call opened at line {callName.Line}");
        return dict;
    }

    private object? ParseAtom()
    {
        var token = Current;
        switch (token.Kind)
        {
            case PyTokenKind.Int:
            case PyTokenKind.Float:
                _index++;
                return token.Value;
            case PyTokenKind.String or PyTokenKind.FString:
                // Adjacent string literals concatenate, as in Python.
                string text = "";
                while (Current.Kind is PyTokenKind.String or PyTokenKind.FString)
                {
                    var literal = Next();
                    text += literal.Kind == PyTokenKind.String ? (string)literal.Value! : FormatFString(literal);
                }
                return text;
            case PyTokenKind.Name:
                _index++;
                return token.Text switch
                {
                    "True" => true,
                    "False" => false,
                    "None" => null,
                    "lambda" => throw Error(token, "lambda is not supported in configs (a config holds data, not code)"),
                    _ when Keywords.Contains(token.Text) => throw Unexpected(token, "expected a value"),
                    _ => Clone(Lookup(token), token),
                };
            case PyTokenKind.Op when token.Text == "(":
                RejectGenerator();
                _index++;
                if (Current.Is(")"))
                {
                    _index++;
                    return new ConfigTuple();
                }
                var first = ParseStarredOrExpression(out bool firstStarred);
                if (Current.Is(")") && !firstStarred)
                {
                    _index++;
                    return first; // parentheses only group
                }
                var tuple = new ConfigTuple();
                AddItem(tuple, first, firstStarred, token);
                while (Current.Is(","))
                {
                    _index++;
                    if (Current.Is(")")) break;
                    var item = ParseStarredOrExpression(out bool starred);
                    AddItem(tuple, item, starred, token);
                }
                Expect(")", $"expected ',' or ')' in the tuple opened at line {token.Line}, column {token.Column}");
                return tuple;
            case PyTokenKind.Op when token.Text == "[":
                if (FindComprehension() is { } listComprehension) return EvaluateComprehension(listComprehension, new ConfigList());
                _index++;
                var list = new ConfigList();
                while (!Current.Is("]"))
                {
                    var item = ParseStarredOrExpression(out bool starred);
                    AddItem(list, item, starred, token);
                    if (!Current.Is(",")) break;
                    _index++;
                }
                Expect("]", $"expected ',' or ']' in the list opened at line {token.Line}, column {token.Column}");
                return list;
            case PyTokenKind.Op when token.Text == "{":
                return ParseDictLiteral();
            default:
                throw Unexpected(token, "expected a value");
        }
    }

    private object? ParseStarredOrExpression(out bool starred)
    {
        starred = Current.Is("*");
        if (starred) _index++;
        return ParseExpression();
    }

    private void AddItem(List<object?> target, object? item, bool starred, PyToken at)
    {
        if (!starred)
        {
            Spend(1, at);
            target.Add(item);
            return;
        }
        if (item is not List<object?> items)
            throw Error(at, $"'*' unpacking needs a list or tuple, got {ConfigValue.Describe(item)}");
        Spend(items.Count, at);
        target.AddRange(items);
    }

    private ConfigDict ParseDictLiteral()
    {
        if (FindComprehension() is { } dictComprehension) return (ConfigDict)EvaluateComprehension(dictComprehension, new ConfigDict())!;
        var open = Next();
        var dict = new ConfigDict();
        while (!Current.Is("}"))
        {
            if (Current.Is("**"))
            {
                var star = Next();
                var other = ParseExpression();
                if (other is not ConfigDict source)
                    throw Error(star, $"'**' needs a dict, got {ConfigValue.Describe(other)}");
                Spend(ConfigBudget.SizeOf(source), star);
                foreach (var (k, v) in source) dict[k] = ConfigValue.DeepClone(v);
            }
            else
            {
                var keyToken = Current;
                var key = ParseExpression();
                if (!Current.Is(":"))
                {
                    if (Current.Is(",") || Current.Is("}"))
                        throw Error(keyToken, "set literals are not supported in configs; use a list or a dict");
                    throw Unexpected(Current, "expected ':' after a dict key");
                }
                _index++;
                if (key is not string name)
                    throw Error(keyToken, $"config dict keys must be strings, got {ConfigValue.Describe(key)}");
                Spend(1, keyToken);
                dict[name] = ParseExpression();
            }
            if (!Current.Is(",")) break;
            _index++;
        }
        Expect("}", $"expected ',' or '}}' in the dict opened at line {open.Line}, column {open.Column}");
        return dict;
    }

    private object? Lookup(PyToken name)
    {
        foreach (var scope in _scopes)
            if (scope.TryGetValue(name.Text, out var local)) return local;
        if (_globals.TryGetValue(name.Text, out var value)) return value;
        string hint = Suggest.Closest(name.Text, _globals.Keys) is { } close ? $" Did you mean '{close}'?" : "";
        throw Error(name,
            $"name '{name.Text}' is not defined. A config can only use names assigned earlier in the same file; " +
            $"to use a value from a _base_ file write {{{{_base_.{name.Text}}}}}.{hint}");
    }

    private void Expect(string op, string? message = null)
    {
        if (Current.Is(op))
        {
            _index++;
            return;
        }
        throw Unexpected(Current, message ?? $"expected '{op}'");
    }

    private DetSharpException Unexpected(PyToken token, string expectation) =>
        Error(token, $"invalid syntax: {expectation}, found {token}");

    internal DetSharpException Error(PyToken token, string message) =>
        ConfigSyntax.Error(_file, _text, token.Line, token.Column, message);
}
