package rfc822

import "strings"

// Address is one address found in a field: its tokens after rewriting
// (comments removed) and its envelope form.
type Address struct {
	Tokens   []Token
	Envelope string
}

// A Rewriter turns the tokens of one address into the tokens to print.
type Rewriter func(addr []Token) []Token

// List is a parsed, rewritten address field.
type List struct {
	// chunks are the comma-separated items as they will be printed.
	chunks [][]Token
	// Addrs are the addresses in the order they appear (left to right).
	Addrs []Address
}

// ParseList tokenises an address field body, splits it into addresses
// and rewrites each with rw (nil: unchanged). Only lexical errors fail.
func ParseList(body string, rw Rewriter) (*List, error) {
	toks, err := Tokenize(body)
	if err != nil {
		return nil, err
	}
	l := &List{}
	for _, seg := range splitTop(toks) {
		l.segment(seg, rw)
	}
	return l, nil
}

// splitTop splits toks at commas outside angle brackets.
func splitTop(toks []Token) [][]Token {
	var out [][]Token
	depth, start := 0, 0
	for i, t := range toks {
		switch {
		case t.is('<'):
			depth++
		case t.is('>'):
			if depth > 0 {
				depth--
			}
		case t.is(',') && depth == 0:
			out = append(out, toks[start:i])
			start = i + 1
		}
	}
	return append(out, toks[start:])
}

// segment handles the tokens between two top-level commas: an optional
// group prefix ("phrase:"), then an angle address or bare addresses.
func (l *List) segment(seg []Token, rw Rewriter) {
	var cur []Token
	// A colon outside angle brackets starts a group; what precedes it is
	// the group's name, printed as written.
	for {
		k := topColon(seg)
		if k < 0 {
			break
		}
		cur = append(cur, seg[:k+1]...)
		seg = seg[k+1:]
	}
	if lt := lastTopLess(seg); lt >= 0 {
		end := len(seg)
		for j := lt + 1; j < len(seg); j++ {
			if seg[j].is('>') {
				end = j
				break
			}
		}
		cur = append(cur, seg[:lt+1]...)
		addrToks, comments := splitComments(seg[lt+1 : end])
		a := l.add(addrToks, rw)
		cur = append(cur, a...)
		cur = append(cur, seg[end:]...)
		cur = append(cur, comments...)
		l.push(cur)
		return
	}
	// Bare addresses: a word after a word starts a new address. Comments
	// follow the address they sit in; a ';' ends a group, and anything
	// after it is printed as written.
	var addrToks, comments, after []Token
	lastWord, ended := false, false
	flush := func() {
		if len(addrToks) > 0 {
			cur = append(cur, l.add(addrToks, rw)...)
		}
		cur = append(cur, comments...)
		cur = append(cur, after...)
		l.push(cur)
		cur, addrToks, comments, after = nil, nil, nil, nil
	}
	for _, t := range seg {
		switch {
		case ended || t.is(';'):
			ended = true
			after = append(after, t)
		case t.Kind == Comment:
			comments = append(comments, t)
		default:
			if t.word() && lastWord {
				flush()
			}
			addrToks = append(addrToks, t)
			lastWord = t.word()
		}
	}
	flush()
}

// topColon finds a ':' outside angle brackets.
func topColon(seg []Token) int {
	depth := 0
	for i, t := range seg {
		switch {
		case t.is('<'):
			depth++
		case t.is('>'):
			if depth > 0 {
				depth--
			}
		case t.is(':') && depth == 0:
			return i
		}
	}
	return -1
}

// lastTopLess finds the last '<' that opens an angle address.
func lastTopLess(seg []Token) int {
	k := -1
	for i, t := range seg {
		if t.is('<') {
			k = i
		}
		if t.is('>') && k >= 0 {
			break
		}
	}
	return k
}

func splitComments(toks []Token) (addr, comments []Token) {
	for _, t := range toks {
		if t.Kind == Comment {
			comments = append(comments, t)
		} else {
			addr = append(addr, t)
		}
	}
	return addr, comments
}

// add rewrites one address and records it.
func (l *List) add(addrToks []Token, rw Rewriter) []Token {
	if rw != nil {
		addrToks = rw(addrToks)
	}
	l.Addrs = append(l.Addrs, Address{Tokens: addrToks, Envelope: Envelope(addrToks)})
	return addrToks
}

func (l *List) push(chunk []Token) {
	if len(chunk) > 0 {
		l.chunks = append(l.chunks, chunk)
	}
}

// Envelope is the address an envelope carries for toks: the values of
// its words, dots and at signs, without comments or angle brackets.
func Envelope(toks []Token) string {
	var b strings.Builder
	for _, t := range toks {
		switch t.Kind {
		case Comment:
		case Special:
			if t.is('<') || t.is('>') {
				continue
			}
			b.WriteString(t.Text)
		default:
			b.WriteString(t.Text)
		}
	}
	return b.String()
}
