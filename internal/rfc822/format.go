package rfc822

import "strings"

// LineWidth is the column qmail-inject folds address fields at.
const LineWidth = 80

func wordish(t Token) bool { return t.word() || t.Kind == Comment }

// space reports whether a space goes between tokens a and b: after ','
// and ':', between words (comments count as words), before '<' and
// after '>' next to a word.
func space(a, b Token) bool {
	switch {
	case a.is(',') || a.is(':'):
		return true
	case wordish(a) && wordish(b):
		return true
	case b.is('<') && (wordish(a) || a.is('>')):
		return true
	case a.is('>') && wordish(b):
		return true
	case b.Kind == Comment && !a.is('<'):
		return true
	}
	return false
}

// raw is a token as printed: a newline inside a comment or quoted
// string gets a backslash before it, as qmail-inject prints it.
func raw(t Token) string {
	if (t.Kind != Comment && t.Kind != Quoted) || !strings.Contains(t.Raw, "\n") {
		return t.Raw
	}
	var b strings.Builder
	for i := 0; i < len(t.Raw); i++ {
		if t.Raw[i] == '\n' && (i == 0 || t.Raw[i-1] != '\\') {
			b.WriteByte('\\')
		}
		b.WriteByte(t.Raw[i])
	}
	return b.String()
}

// FormatTokens prints tokens with qmail-inject's spacing.
func FormatTokens(toks []Token) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && space(toks[i-1], t) {
			b.WriteByte(' ')
		}
		b.WriteString(raw(t))
	}
	return b.String()
}

// width is the column after writing s starting at col.
func width(col int, s string) int {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return len(s) - i - 1
	}
	return col + len(s)
}

// Fold joins items after "name:" as qmail-inject does: ", " while the
// line, with the comma that follows the item, fits in LineWidth
// columns, else ",\n  ". No items gives "name:" alone.
func Fold(name string, items []string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte(':')
	col := len(name) + 1
	for i, s := range items {
		need := len(s)
		if i < len(items)-1 {
			need++
		}
		switch {
		case i == 0:
			b.WriteByte(' ')
			col++
		case col+2+need > LineWidth:
			b.WriteString(",\n  ")
			col = 2
		default:
			b.WriteString(", ")
			col += 2
		}
		b.WriteString(s)
		col = width(col, s)
	}
	b.WriteByte('\n')
	return b.String()
}

// Format prints the list as the field "name: ...\n".
func (l *List) Format(name string) string {
	items := make([]string, len(l.chunks))
	for i, c := range l.chunks {
		items[i] = FormatTokens(c)
	}
	return Fold(name, items)
}
