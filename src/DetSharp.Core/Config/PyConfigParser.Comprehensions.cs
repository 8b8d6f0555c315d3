using System.Globalization;
using System.Text;

namespace DetSharp.Config;

/// <summary>
/// The expressions configs use to generate values: list and dict comprehensions (<c>[f(x) for x in xs]</c>,
/// <c>{k: v for a, b in enumerate(xs) for k in range(b)}</c>), f-strings, the pure builtins <c>range</c>,
/// <c>enumerate</c> and <c>len</c>, and <c>name.update(dict)</c>. A comprehension is evaluated by re-reading its
/// element tokens once per binding of its loop names (which live in a scope of their own, as in Python), so it can
/// only compute what the rest of the evaluator can: no other calls, no conditions. Loops are bounded by
/// <see cref="ConfigBudget.MaxIterations"/>.
/// </summary>
public sealed partial class PyConfigParser
{
    private readonly Stack<Dictionary<string, object?>> _scopes = new();
    private int _comprehensionDepth;
    private int _iterableDepth;
    private long _iterations;

    /// <summary>Token positions of a comprehension: its opening bracket, its first 'for' and its closing bracket.</summary>
    private readonly record struct Comprehension(int Open, int For, int Close);

    /// <summary>The comprehension starting at the current bracket, or null when the bracket holds a plain display.</summary>
    private Comprehension? FindComprehension()
    {
        int depth = 0, forIndex = -1;
        for (int i = _index; i < _tokens.Count; i++)
        {
            var t = _tokens[i];
            if (t.Kind == PyTokenKind.Op && t.Text is "(" or "[" or "{") depth++;
            else if (t.Kind == PyTokenKind.Op && t.Text is ")" or "]" or "}")
            {
                if (--depth == 0) return forIndex < 0 ? null : new Comprehension(_index, forIndex, i);
            }
            else if (depth == 1 && forIndex < 0 && t.IsName("for")) forIndex = i;
            else if (t.Kind == PyTokenKind.End) return null;
        }
        return null;
    }

    /// <summary>A generator expression in parentheses would be a lazy generator object in Python: not a config value.</summary>
    private void RejectGenerator()
    {
        if (FindComprehension() is { } generator)
            throw Error(_tokens[generator.For], "generator expressions '(... for ...)' are not supported in configs; use a list comprehension '[... for ...]'");
    }

    /// <summary>Evaluates the comprehension into <paramref name="target"/> (a list or a dict) and moves past it.</summary>
    private object EvaluateComprehension(Comprehension c, object target)
    {
        _scopes.Push(new Dictionary<string, object?>(StringComparer.Ordinal));
        _comprehensionDepth++;
        try
        {
            RunClauses(c, c.For, target);
        }
        finally
        {
            _comprehensionDepth--;
            _scopes.Pop();
        }
        _index = c.Close + 1;
        return target;
    }

    /// <summary>Runs the 'for' clause at <paramref name="at"/> and those after it; past the last one, evaluates the element.</summary>
    private void RunClauses(Comprehension c, int at, object target)
    {
        _index = at;
        if (at == c.Close)
        {
            AddElement(c, target);
            return;
        }
        if (Current.IsName("if"))
            throw Error(Current, "conditions ('if') in comprehensions are not supported in configs; write the values out");
        if (!Current.IsName("for")) throw Unexpected(Current, "expected 'for' or the end of the comprehension");
        var forToken = Next();
        var names = ParseLoopTargets();
        if (!Current.IsName("in")) throw Unexpected(Current, "expected 'in' after the loop names of a comprehension");
        _index++;
        _iterableDepth++;
        object? iterable;
        try
        {
            iterable = ParseArithmetic();
        }
        finally
        {
            _iterableDepth--;
        }
        int next = _index;
        if (next != c.Close && !Current.IsName("for") && !Current.IsName("if"))
            throw Unexpected(Current, "expected 'for' or the end of the comprehension after its iterable");
        foreach (var item in Items(iterable, forToken))
        {
            if (++_iterations > ConfigBudget.MaxIterations)
                throw Error(forToken, $"the comprehensions of this config loop more than {ConfigBudget.MaxIterations:N0} times; configs describe settings, not data — make the loop smaller");
            Bind(names, item, forToken);
            RunClauses(c, next, target);
        }
    }

    /// <summary>The names a 'for' binds: <c>x</c>, <c>a, b</c> or <c>(a, b)</c>.</summary>
    private List<PyToken> ParseLoopTargets()
    {
        bool parenthesized = Current.Is("(");
        if (parenthesized) _index++;
        var names = new List<PyToken>();
        while (true)
        {
            if (Current.Kind != PyTokenKind.Name || Keywords.Contains(Current.Text))
                throw Unexpected(Current, "expected a loop name after 'for' (comprehensions bind plain names)");
            names.Add(Next());
            if (!Current.Is(",")) break;
            _index++;
        }
        if (parenthesized) Expect(")");
        return names;
    }

    private void Bind(List<PyToken> names, object? item, PyToken at)
    {
        var scope = _scopes.Peek();
        if (names.Count == 1)
        {
            scope[names[0].Text] = item;
            return;
        }
        if (item is not List<object?> values || values.Count != names.Count)
            throw Error(at, $"cannot unpack {ConfigValue.Describe(item)} into the {names.Count} names {string.Join(", ", names.Select(n => n.Text))}");
        for (int i = 0; i < names.Count; i++) scope[names[i].Text] = values[i];
    }

    /// <summary>What a Python for loop visits: list/tuple items, a dict's keys, a string's characters.</summary>
    private IEnumerable<object?> Items(object? iterable, PyToken at) => iterable switch
    {
        List<object?> list => list.ToList(),
        ConfigDict dict => dict.Keys.Cast<object?>().ToList(),
        string text => text.Select(ch => (object?)ch.ToString()).ToList(),
        _ => throw Error(at, $"a comprehension cannot loop over {ConfigValue.Describe(iterable)}"),
    };

    private void AddElement(Comprehension c, object target)
    {
        _index = c.Open + 1;
        var at = Current;
        if (target is ConfigDict dict)
        {
            var key = ParseExpression();
            if (!Current.Is(":")) throw Unexpected(Current, "expected ':' after the key of a dict comprehension");
            _index++;
            if (key is not string name)
                throw Error(at, $"config dict keys must be strings, got {ConfigValue.Describe(key)}");
            var value = ParseExpression();
            Spend(1, at);
            dict[name] = value;
        }
        else
        {
            var value = ParseExpression();
            Spend(1, at);
            ((List<object?>)target).Add(value);
        }
        if (_index != c.For) throw Unexpected(Current, "expected 'for' after the element of a comprehension");
    }

    /// <summary><c>range(stop)</c>, <c>range(start, stop[, step])</c>, <c>enumerate(xs[, start])</c>, <c>len(x)</c>.</summary>
    private object ParseBuiltinCall(PyToken name)
    {
        Expect("(");
        var args = new List<object?>();
        while (!Current.Is(")"))
        {
            if (Current.Kind == PyTokenKind.Name && _tokens[_index + 1].Is("="))
                throw Error(Current, $"{name.Text}(...) in configs takes positional arguments only");
            args.Add(ParseExpression());
            if (!Current.Is(",")) break;
            _index++;
        }
        Expect(")", $"expected ',' or ')' in the {name.Text}(...) call");
        if (name.Text == "len")
        {
            if (args.Count != 1) throw Error(name, $"len() takes exactly one argument ({args.Count} given)");
            return args[0] switch
            {
                List<object?> list => (long)list.Count,
                ConfigDict dict => (long)dict.Count,
                string text => (long)text.Length,
                var other => throw Error(name, $"len() of {ConfigValue.Describe(other)} is undefined"),
            };
        }
        // In Python these are lazy range/enumerate objects; as a comprehension's iterable they visit the same values.
        if (_iterableDepth == 0)
            throw Error(name, $"{name.Text}(...) is only supported as the iterable of a comprehension ('for x in {name.Text}(...)')");
        return name.Text == "range" ? Range(name, args) : Enumerate(name, args);
    }

    private ConfigList Range(PyToken at, List<object?> args)
    {
        if (args.Count is < 1 or > 3 || args.Any(a => a is not long))
            throw Error(at, "range() takes one to three integers: range(stop) or range(start, stop[, step])");
        long start = args.Count == 1 ? 0 : (long)args[0]!;
        long stop = args.Count == 1 ? (long)args[0]! : (long)args[1]!;
        long step = args.Count == 3 ? (long)args[2]! : 1;
        if (step == 0) throw Error(at, "range() arg 3 must not be zero");
        double count = Math.Max(0, Math.Ceiling(((double)stop - start) / step));
        if (count > ConfigBudget.MaxIterations)
            throw Error(at, $"range() of {count:N0} values is too large for a config (at most {ConfigBudget.MaxIterations:N0})");
        Spend((long)count, at);
        var values = new ConfigList();
        for (long i = 0; i < (long)count; i++) values.Add(start + i * step);
        return values;
    }

    private ConfigList Enumerate(PyToken at, List<object?> args)
    {
        if (args.Count is < 1 or > 2 || (args.Count == 2 && args[1] is not long))
            throw Error(at, "enumerate() takes an iterable and an optional integer start");
        long start = args.Count == 2 ? (long)args[1]! : 0;
        var items = Items(args[0], at).ToList();
        Spend(3L * items.Count, at);
        var pairs = new ConfigList();
        foreach (var item in items) pairs.Add(new ConfigTuple { start++, item });
        return pairs;
    }

    /// <summary>The text of an f-string: its literal parts and the <c>str()</c> (or <c>!r</c> repr) of each embedded expression.</summary>
    private string FormatFString(PyToken token)
    {
        var text = new StringBuilder();
        foreach (var part in (IReadOnlyList<FStringPart>)token.Value!)
        {
            if (part.Literal is not null)
            {
                text.Append(part.Literal);
                continue;
            }
            var at = token with { Column = part.Column };
            var value = EvaluateEmbedded(part.Expression!, at);
            text.Append(value switch
            {
                string s => part.Conversion == 'r' ? PyText.String(s) : s,
                null => "None",
                bool b => b ? "True" : "False",
                long l => l.ToString(CultureInfo.InvariantCulture),
                double d => PyText.Float(d),
                _ => throw Error(at, $"f-string: formatting {ConfigValue.Describe(value)} is not supported in configs (only strings, numbers, booleans and None)"),
            });
        }
        Spend(text.Length, token);
        return text.ToString();
    }

    /// <summary>Evaluates an f-string's embedded expression in the current scope (its tokens placed at its position in the file).</summary>
    private object? EvaluateEmbedded(string source, PyToken at)
    {
        var tokens = PyLexer.Tokenize(source, _file)
            .Select(t => t with { Line = at.Line + t.Line - 1, Column = t.Line == 1 ? at.Column + t.Column - 1 : t.Column })
            .ToList();
        var (savedTokens, savedIndex) = (_tokens, _index);
        _tokens = tokens;
        _index = 0;
        try
        {
            var value = ParseExpressionList();
            if (Current.Kind == PyTokenKind.Newline) _index++;
            if (Current.Kind != PyTokenKind.End) throw Unexpected(Current, "expected '}' after the f-string's expression");
            return value;
        }
        finally
        {
            (_tokens, _index) = (savedTokens, savedIndex);
        }
    }

    /// <summary><c>name.update(other_dict)</c> as a statement: mmcv configs extend a dict defined earlier this way.</summary>
    private void ParseUpdate()
    {
        var name = Next();
        _index += 2; // '.update'
        var open = Current;
        Expect("(");
        if (Lookup(name) is not ConfigDict target)
            throw Error(name, $"'{name.Text}.update(...)' needs a dict, but '{name.Text}' is {ConfigValue.Describe(_globals[name.Text])}");
        var other = ParseExpression();
        if (other is not ConfigDict source || !Current.Is(")"))
            throw Error(open, $"'{name.Text}.update(...)' in configs takes one dict argument");
        _index++;
        Spend(ConfigBudget.SizeOf(source), open);
        foreach (var (key, value) in source) target[key] = value;
        if (ConfigBudget.DepthOf(target) > ConfigBudget.MaxDepth) throw Error(name, ConfigBudget.TooDeep);
    }
}
