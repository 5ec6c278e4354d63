// Package rfc822 tokenises and rewrites RFC 822 address fields the way
// qmail-inject does (qmail-spec §13.3, §13.4): atoms, quoted strings,
// domain literals, comments and specials; address lists split into
// addresses (adjacent words without a comma are two addresses); every
// address rewritten by a caller's function; the field printed again with
// qmail's spacing and folding.
//
// It is a vocabulary package: qmail-inject uses it, and nothing in it
// reads files or the environment.
package rfc822

import "fmt"

// Kind is the kind of a token.
type Kind int

// The token kinds.
const (
	Atom    Kind = iota // run of atom characters
	Quoted              // "quoted string"
	Literal             // [domain literal]
	Comment             // (comment)
	Special             // one of , : ; < > @ .
)

// Token is one lexical item. Raw is the text as written (with its
// quotes, brackets or parentheses), Text the value an envelope address
// takes from it (quotes and backslashes removed; for a literal the
// brackets kept).
type Token struct {
	Kind Kind
	Raw  string
	Text string
}

func (t Token) is(c byte) bool { return t.Kind == Special && len(t.Raw) == 1 && t.Raw[0] == c }

// word reports whether t is an atom, quoted string or literal.
func (t Token) word() bool { return t.Kind == Atom || t.Kind == Quoted || t.Kind == Literal }

// SyntaxError is a lexical error: an unterminated quoted string, comment
// or domain literal. qmail-inject refuses only these.
type SyntaxError struct {
	What string
}

func (e *SyntaxError) Error() string { return "unterminated " + e.What }

const specials = ",:;<>@."

func isSpecial(c byte) bool {
	for i := 0; i < len(specials); i++ {
		if specials[i] == c {
			return true
		}
	}
	return false
}

// isSpace is RFC 822 linear white space (and CR, which a header may hold).
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Tokenize splits a field body into tokens. Its cost is linear in len(s).
func Tokenize(s string) ([]Token, error) {
	var toks []Token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case isSpecial(c):
			toks = append(toks, Token{Kind: Special, Raw: s[i : i+1], Text: s[i : i+1]})
			i++
		case c == '"':
			j, text, err := scanDelimited(s, i, '"', '"', false)
			if err != nil {
				return nil, &SyntaxError{"quoted string"}
			}
			toks = append(toks, Token{Kind: Quoted, Raw: s[i:j], Text: text})
			i = j
		case c == '[':
			j, text, err := scanDelimited(s, i, '[', ']', false)
			if err != nil {
				return nil, &SyntaxError{"domain literal"}
			}
			toks = append(toks, Token{Kind: Literal, Raw: s[i:j], Text: "[" + text + "]"})
			i = j
		case c == '(':
			j, text, err := scanDelimited(s, i, '(', ')', true)
			if err != nil {
				return nil, &SyntaxError{"comment"}
			}
			toks = append(toks, Token{Kind: Comment, Raw: s[i:j], Text: text})
			i = j
		default:
			j := i
			for j < len(s) && !isSpace(s[j]) && !isSpecial(s[j]) && s[j] != '"' && s[j] != '[' && s[j] != '(' {
				j++
			}
			if j == i { // a lone ')' or ']': an atom of its own
				j = i + 1
			}
			toks = append(toks, Token{Kind: Atom, Raw: s[i:j], Text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}

// scanDelimited reads from s[i] (the opening byte) to the matching
// close, honouring backslash escapes and, if nest, nested pairs. It
// returns the index after the close and the unescaped contents.
func scanDelimited(s string, i int, open, close byte, nest bool) (int, string, error) {
	depth := 0
	buf := make([]byte, 0, 16)
	for j := i + 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '\\':
			if j+1 >= len(s) {
				return 0, "", fmt.Errorf("unterminated")
			}
			j++
			buf = append(buf, s[j])
		case nest && c == open:
			depth++
			buf = append(buf, c)
		case c == close:
			if depth == 0 {
				return j + 1, string(buf), nil
			}
			depth--
			buf = append(buf, c)
		default:
			buf = append(buf, c)
		}
	}
	return 0, "", fmt.Errorf("unterminated")
}
