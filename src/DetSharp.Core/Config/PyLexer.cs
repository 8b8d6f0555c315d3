using System.Globalization;
using System.Text;

namespace DetSharp.Config;

/// <summary>
/// Tokenizer for the subset of Python that MMDetection configs use. Follows Python's rules for
/// comments, implicit line joining inside brackets, backslash continuation and string literals.
/// </summary>
internal sealed class PyLexer
{
    private readonly string _text;
    private readonly string _file;
    private int _pos;
    private int _line = 1;
    private int _lineStart;
    private int _depth;
    private readonly List<PyToken> _tokens = [];
    private readonly Stack<(char Close, int Line, int Column)> _brackets = new();

    public const string IndentMarker = "<indent>";

    private PyLexer(string text, string file)
    {
        _text = text;
        _file = file;
    }

    public static List<PyToken> Tokenize(string text, string file) => new PyLexer(text, file).Run();

    private List<PyToken> Run()
    {
        bool atLineStart = true;
        while (_pos < _text.Length)
        {
            char c = _text[_pos];
            if (atLineStart && _depth == 0)
            {
                // Indentation at the start of a logical line is an error unless the line is blank or a comment.
                int start = _pos;
                while (_pos < _text.Length && (_text[_pos] == ' ' || _text[_pos] == '\t' || _text[_pos] == '\f')) _pos++;
                if (_pos < _text.Length && _text[_pos] != '\n' && _text[_pos] != '\r' && _text[_pos] != '#' && _pos > start
                    && !(_text[_pos] == '\\' && _pos + 1 < _text.Length && (_text[_pos + 1] == '\n' || _text[_pos + 1] == '\r')))
                {
                    // Reported by the parser, so that an earlier 'if'/'def' line gets the more useful message.
                    _tokens.Add(new PyToken(PyTokenKind.Op, IndentMarker, null, _line, start - _lineStart + 1));
                }
                atLineStart = false;
                continue;
            }
            switch (c)
            {
                case ' ' or '\t' or '\f':
                    _pos++;
                    break;
                case '#':
                    while (_pos < _text.Length && _text[_pos] != '\n' && _text[_pos] != '\r') _pos++;
                    break;
                case '\r' or '\n':
                    if (_depth == 0 && _tokens.Count > 0 && _tokens[^1].Kind != PyTokenKind.Newline)
                        _tokens.Add(new PyToken(PyTokenKind.Newline, "\n", null, _line, _pos - _lineStart + 1));
                    NewLine();
                    atLineStart = true;
                    break;
                case '\\':
                    int after = _pos + 1;
                    if (after < _text.Length && (_text[after] == '\n' || _text[after] == '\r'))
                    {
                        _pos = after;
                        NewLine();
                        break;
                    }
                    throw Error(_line, Column, "unexpected character '\\' (a backslash continues a line only at its very end)");
                default:
                    if (char.IsDigit(c) || (c == '.' && _pos + 1 < _text.Length && char.IsDigit(_text[_pos + 1])))
                        ReadNumber();
                    else if (char.IsLetter(c) || c == '_')
                        ReadNameOrString();
                    else if (c == '"' || c == '\'')
                        ReadString("", _pos);
                    else
                        ReadOperator();
                    break;
            }
        }
        if (_brackets.Count > 0)
        {
            var (close, line, column) = _brackets.Peek();
            throw Error(line, column, $"this bracket is never closed (expected '{close}')");
        }
        if (_tokens.Count > 0 && _tokens[^1].Kind != PyTokenKind.Newline)
            _tokens.Add(new PyToken(PyTokenKind.Newline, "\n", null, _line, Column));
        _tokens.Add(new PyToken(PyTokenKind.End, "", null, _line, Column));
        return _tokens;
    }

    private int Column => _pos - _lineStart + 1;

    private void NewLine()
    {
        if (_text[_pos] == '\r' && _pos + 1 < _text.Length && _text[_pos + 1] == '\n') _pos++;
        _pos++;
        _line++;
        _lineStart = _pos;
    }

    private void ReadNumber()
    {
        int start = _pos;
        int column = Column;
        if (_text[_pos] == '0' && _pos + 1 < _text.Length && "xXoObB".Contains(_text[_pos + 1]))
        {
            char kind = char.ToLowerInvariant(_text[_pos + 1]);
            _pos += 2;
            while (_pos < _text.Length && (char.IsAsciiHexDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
            string digits = _text[(start + 2).._pos].Replace("_", "");
            int radix = kind == 'x' ? 16 : kind == 'o' ? 8 : 2;
            try
            {
                _tokens.Add(new PyToken(PyTokenKind.Int, _text[start.._pos], Convert.ToInt64(digits, radix), _line, column));
            }
            catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
            {
                throw Error(_line, column, $"invalid number '{_text[start.._pos]}'");
            }
            return;
        }
        bool isFloat = false;
        while (_pos < _text.Length && (char.IsDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
        if (_pos < _text.Length && _text[_pos] == '.')
        {
            isFloat = true;
            _pos++;
            while (_pos < _text.Length && (char.IsDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
        }
        if (_pos < _text.Length && (_text[_pos] == 'e' || _text[_pos] == 'E'))
        {
            int save = _pos;
            _pos++;
            if (_pos < _text.Length && (_text[_pos] == '+' || _text[_pos] == '-')) _pos++;
            if (_pos < _text.Length && char.IsDigit(_text[_pos]))
            {
                isFloat = true;
                while (_pos < _text.Length && (char.IsDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
            }
            else _pos = save;
        }
        if (_pos < _text.Length && (_text[_pos] == 'j' || _text[_pos] == 'J'))
            throw Error(_line, column, "complex numbers are not supported in configs");
        if (_pos < _text.Length && (char.IsLetter(_text[_pos]) || _text[_pos] == '_'))
            throw Error(_line, column, $"invalid number '{_text[start..(_pos + 1)]}'");
        string text = _text[start.._pos];
        string clean = text.Replace("_", "");
        if (isFloat)
        {
            _tokens.Add(new PyToken(PyTokenKind.Float, text, double.Parse(clean, NumberStyles.Float, CultureInfo.InvariantCulture), _line, column));
            return;
        }
        if (clean.Length > 1 && clean[0] == '0' && clean.Trim('0').Length > 0)
            throw Error(_line, column, $"leading zeros in decimal integer literals are not permitted ('{text}'); use 0o for octal");
        if (!long.TryParse(clean, NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            throw Error(_line, column, $"integer '{text}' is too large");
        _tokens.Add(new PyToken(PyTokenKind.Int, text, value, _line, column));
    }

    private void ReadNameOrString()
    {
        int start = _pos;
        while (_pos < _text.Length && (char.IsLetterOrDigit(_text[_pos]) || _text[_pos] == '_')) _pos++;
        string word = _text[start.._pos];
        if (_pos < _text.Length && (_text[_pos] == '\'' || _text[_pos] == '"') && word.Length <= 2
            && word.ToLowerInvariant() is "r" or "u" or "b" or "f" or "rb" or "br" or "fr" or "rf")
        {
            ReadString(word.ToLowerInvariant(), start);
            return;
        }
        _tokens.Add(new PyToken(PyTokenKind.Name, word, null, _line, start - _lineStart + 1));
    }

    private void ReadString(string prefix, int tokenStart)
    {
        int line = _line;
        int column = tokenStart - _lineStart + 1;
        if (prefix.Contains('b'))
            throw Error(line, column, "bytes literals are not supported in configs");
        bool raw = prefix.Contains('r');
        char quote = _text[_pos];
        bool triple = _pos + 2 < _text.Length && _text[_pos + 1] == quote && _text[_pos + 2] == quote;
        _pos += triple ? 3 : 1;
        var value = new StringBuilder();
        while (true)
        {
            if (_pos >= _text.Length)
                throw Error(line, column, "this string is never closed");
            char c = _text[_pos];
            if (c == quote && (!triple || (_pos + 2 < _text.Length && _text[_pos + 1] == quote && _text[_pos + 2] == quote)))
            {
                _pos += triple ? 3 : 1;
                break;
            }
            if (c == '\n' || c == '\r')
            {
                if (!triple) throw Error(line, column, "this string is never closed on its line");
                value.Append('\n');
                NewLine();
                continue;
            }
            if (c == '\\' && _pos + 1 < _text.Length)
            {
                char next = _text[_pos + 1];
                if (next == '\n' || next == '\r')
                {
                    _pos++;
                    NewLine();
                    if (raw) value.Append('\\').Append('\n');
                    continue;
                }
                if (raw)
                {
                    value.Append(c).Append(next);
                    _pos += 2;
                    continue;
                }
                _pos += 2;
                switch (next)
                {
                    case 'n': value.Append('\n'); break;
                    case 't': value.Append('\t'); break;
                    case 'r': value.Append('\r'); break;
                    case '0': value.Append('\0'); break;
                    case 'a': value.Append('\a'); break;
                    case 'b': value.Append('\b'); break;
                    case 'f': value.Append('\f'); break;
                    case 'v': value.Append('\v'); break;
                    case '\\': value.Append('\\'); break;
                    case '\'': value.Append('\''); break;
                    case '"': value.Append('"'); break;
                    case 'x': value.Append(ReadHex(2, line, column)); break;
                    case 'u': value.Append(ReadHex(4, line, column)); break;
                    case 'U': value.Append(char.ConvertFromUtf32(int.Parse(ReadHexText(8, line, column), NumberStyles.HexNumber, CultureInfo.InvariantCulture))); break;
                    default: value.Append('\\').Append(next); break;
                }
                continue;
            }
            value.Append(c);
            _pos++;
        }
        if (prefix.Contains('f'))
        {
            // No backslashes may appear inside an f-string's braces (Python before 3.12), so the decoded text still
            // holds each embedded expression exactly as written.
            int bodyColumn = column + prefix.Length + (triple ? 3 : 1);
            _tokens.Add(new PyToken(PyTokenKind.FString, _text[tokenStart.._pos], FStringPart.Split(value.ToString(), bodyColumn, m => Error(line, column, m)), line, column));
            return;
        }
        _tokens.Add(new PyToken(PyTokenKind.String, _text[tokenStart.._pos], value.ToString(), line, column));
    }

    private char ReadHex(int count, int line, int column) =>
        (char)int.Parse(ReadHexText(count, line, column), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private string ReadHexText(int count, int line, int column)
    {
        if (_pos + count > _text.Length)
            throw Error(line, column, "truncated escape sequence in string");
        string hex = _text.Substring(_pos, count);
        foreach (char h in hex)
            if (!char.IsAsciiHexDigit(h)) throw Error(line, column, $"invalid escape sequence '\\{hex}' in string");
        _pos += count;
        return hex;
    }

    private static readonly string[] Operators =
    [
        "**=", "//=", "...", "**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "->", ":=",
        "(", ")", "[", "]", "{", "}", ",", ":", ".", "=", "+", "-", "*", "/", "%", "<", ">", "@", "&", "|", "^", "~", ";",
    ];

    private void ReadOperator()
    {
        int column = Column;
        foreach (var op in Operators)
        {
            if (string.CompareOrdinal(_text, _pos, op, 0, op.Length) != 0) continue;
            switch (op)
            {
                case "(": _brackets.Push((')', _line, column)); _depth++; break;
                case "[": _brackets.Push((']', _line, column)); _depth++; break;
                case "{": _brackets.Push(('}', _line, column)); _depth++; break;
                case ")" or "]" or "}":
                    if (_brackets.Count == 0)
                        throw Error(_line, column, $"unmatched '{op}'");
                    var (close, openLine, openColumn) = _brackets.Pop();
                    if (close != op[0])
                        throw Error(_line, column, $"closing '{op}' does not match the bracket opened at line {openLine}, column {openColumn} (expected '{close}')");
                    _depth--;
                    break;
            }
            _tokens.Add(new PyToken(PyTokenKind.Op, op, null, _line, column));
            _pos += op.Length;
            return;
        }
        throw Error(_line, column, $"unexpected character '{_text[_pos]}'");
    }

    private DetSharpException Error(int line, int column, string message) =>
        ConfigSyntax.Error(_file, _text, line, column, message);
}

/// <summary>Formats config syntax errors as <c>file:line:column: message</c> plus the offending line and a caret.</summary>
internal static class ConfigSyntax
{
    public static DetSharpException Error(string file, string text, int line, int column, string message)
    {
        string source = SourceLine(text, line);
        var builder = new StringBuilder();
        builder.Append(CultureInfo.InvariantCulture, $"{file}:{line}:{column}: {message}");
        if (source.Length > 0)
        {
            builder.Append('\n').Append("    ").Append(source.TrimEnd());
            builder.Append('\n').Append("    ").Append(new string(' ', Math.Max(0, column - 1))).Append('^');
        }
        return new DetSharpException(builder.ToString());
    }

    private static string SourceLine(string text, int line)
    {
        int current = 1, start = 0;
        for (int i = 0; i < text.Length && current < line; i++)
        {
            if (text[i] == '\n') { current++; start = i + 1; }
        }
        if (current != line) return "";
        int end = text.IndexOf('\n', start);
        return (end < 0 ? text[start..] : text[start..end]).TrimEnd('\r').Replace('\t', ' ');
    }
}
