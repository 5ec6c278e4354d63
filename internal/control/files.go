package control

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
)

// Kind says how a control file is read.
type Kind int

const (
	// KindLine files use their first line (Dir.Line).
	KindLine Kind = iota
	// KindInt files hold one decimal number on their first line (Dir.Int).
	KindInt
	// KindList files use every line but empty and '#' lines (Dir.List).
	KindList
	// KindMap files are lists of KEY:VALUE lines (Dir.ReadMap).
	KindMap
	// KindCDB files are compiled by a qmail tool from a list file.
	KindCDB
	// KindSecret files (a TLS key, passwords) are only said to exist:
	// their contents are never printed.
	KindSecret
)

func (k Kind) String() string {
	switch k {
	case KindLine:
		return "line"
	case KindInt:
		return "int"
	case KindList:
		return "list"
	case KindMap:
		return "map"
	case KindCDB:
		return "cdb"
	case KindSecret:
		return "secret"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// FileInfo describes one control file of qmail-control(5) (spec §0.6).
type FileInfo struct {
	Name string
	Kind Kind
	// Default is the literal value used when the file is missing (and,
	// for Me files, when control/me is missing too); "" when there is
	// none. For KindInt it is a decimal number.
	Default string
	// Me: a missing file means the first line of control/me (for locals:
	// the one-entry list [me]).
	Me bool
	// Required: when neither the file nor control/me gives a value, the
	// program that reads it refuses to run.
	Required bool
	// Env names the environment variable that overrides the file for
	// the programs that read it, if any.
	Env string
	// ReadBy names the programs that read the file.
	ReadBy string
	// Desc says in one sentence what the file does.
	Desc string
	// Show is the sentence qmail-showctl prints for the value in force,
	// with %s for the value; for list and map files, for one entry.
	Show string
	// None is the sentence qmail-showctl prints when a list, map or cdb
	// file is missing, or a file without any default has no value.
	None string
}

// Files lists every control file goqmail knows, in the order
// qmail-showctl prints them (alphabetical, as ls shows control/).
//
// The sentences are goqmail's own wording; qmail-showctl's structure is
// kept (spec §16). localiphost is marked Required although qmail-control(5)
// only says "default: me": with neither file nor me, qmail-smtpd has no
// name to put in its place and refuses to start, which is what an
// administrator would expect of a file whose only default is me.
var Files = []FileInfo{
	{Name: "badmailfrom", Kind: KindList, ReadBy: "qmail-smtpd",
		Desc: "Envelope senders (address, or @domain for a whole domain) whose mail qmail-smtpd refuses.",
		Show: "qmail-smtpd refuses mail from %s.",
		None: "qmail-smtpd accepts mail from any envelope sender."},
	{Name: "bouncefrom", Kind: KindLine, Default: "MAILER-DAEMON", ReadBy: "qmail-send",
		Desc: "The user name bounce messages come from.",
		Show: "Bounce messages come from the user name %s."},
	{Name: "bouncehost", Kind: KindLine, Default: "bouncehost", Me: true, ReadBy: "qmail-send",
		Desc: "The host name bounce messages come from.",
		Show: "Bounce messages come from the host name %s."},
	{Name: "concurrencylocal", Kind: KindInt, Default: "10", ReadBy: "qmail-send",
		Desc: "How many local deliveries may run at once.",
		Show: "At most %s local deliveries run at once."},
	{Name: "concurrencyremote", Kind: KindInt, Default: "20", ReadBy: "qmail-send",
		Desc: "How many remote deliveries may run at once.",
		Show: "At most %s remote deliveries run at once."},
	{Name: "databytes", Kind: KindInt, Default: "0", Env: "DATABYTES", ReadBy: "qmail-smtpd qmail-qmtpd",
		Desc: "The largest message, in bytes, that qmail-smtpd and qmail-qmtpd accept (0: no limit).",
		Show: "Messages received by SMTP may have at most %s bytes (0 means no limit)."},
	{Name: "defaultdomain", Kind: KindLine, Default: "defaultdomain", Me: true, Env: "QMAILDEFAULTDOMAIN", ReadBy: "qmail-inject",
		Desc: "The domain qmail-inject appends to host names that have no dot.",
		Show: "qmail-inject appends .%s to host names without a dot."},
	{Name: "defaulthost", Kind: KindLine, Default: "defaulthost", Me: true, Env: "QMAILDEFAULTHOST", ReadBy: "qmail-inject",
		Desc: "The host qmail-inject appends to addresses that have none.",
		Show: "qmail-inject appends @%s to addresses without a host."},
	{Name: "doublebouncehost", Kind: KindLine, Default: "doublebouncehost", Me: true, ReadBy: "qmail-send",
		Desc: "The host of the address that gets bounces which cannot be returned.",
		Show: "Double bounces go to an address at the host %s."},
	{Name: "doublebounceto", Kind: KindLine, Default: "postmaster", ReadBy: "qmail-send",
		Desc: "The user that gets bounces which cannot be returned.",
		Show: "Double bounces go to the user %s."},
	{Name: "enhancedstatuscodes", Kind: KindInt, Default: "0", ReadBy: "qmail-smtpd",
		Desc: "goqmail's own: nonzero makes qmail-smtpd announce ENHANCEDSTATUSCODES and put RFC 2034 codes in its replies after EHLO.",
		Show: "qmail-smtpd's enhanced status codes: %s (0 means off, as in qmail)."},
	{Name: "envnoathost", Kind: KindLine, Default: "envnoathost", Me: true, ReadBy: "qmail-send",
		Desc: "The host qmail-send appends to envelope recipients that have no @.",
		Show: "qmail-send appends @%s to recipients without a host."},
	{Name: "helohost", Kind: KindLine, Me: true, Required: true, ReadBy: "qmail-remote",
		Desc: "The host name qmail-remote gives in its HELO.",
		Show: "qmail-remote says HELO %s.",
		None: "Not set: qmail-remote refuses to run without helohost or me."},
	{Name: "idhost", Kind: KindLine, Default: "idhost", Me: true, Env: "QMAILIDHOST", ReadBy: "qmail-inject",
		Desc: "The host name qmail-inject puts in the Message-IDs it makes.",
		Show: "qmail-inject makes Message-IDs at the host %s."},
	{Name: "localiphost", Kind: KindLine, Me: true, Required: true, ReadBy: "qmail-smtpd",
		Desc: "The name qmail-smtpd puts in place of this host's IP address in recipients like user@[1.2.3.4].",
		Show: "qmail-smtpd replaces this host's [IP address] in recipients with %s.",
		None: "Not set: qmail-smtpd refuses to run without localiphost or me."},
	{Name: "locals", Kind: KindList, Me: true, Required: true, ReadBy: "qmail-send",
		Desc: "The domains whose mail qmail-send delivers on this host.",
		Show: "Mail for %s is delivered locally.",
		None: "Not set: qmail-send refuses to run without locals or me."},
	{Name: "maxrcpt", Kind: KindInt, Default: "100000", ReadBy: "qmail-smtpd",
		Desc: "goqmail's own: the most recipients qmail-smtpd accepts in one message; more get 452 (0: no limit, as qmail 1.03).",
		Show: "qmail-smtpd accepts at most %s recipients per message (0 means no limit)."},
	{Name: "me", Kind: KindLine, ReadBy: "almost every program",
		Desc: "This host's name: the default of many other control files.",
		Show: "My name is %s.",
		None: "Not set: files that default to me use their own defaults, and programs that need a name refuse to run."},
	{Name: "moreipme", Kind: KindList, ReadBy: "qmail-remote",
		Desc: "goqmail's own (the moreipme patch's file): more IP addresses of this host, such as a public address behind NAT, that qmail-remote treats as its own when it picks MX hosts.",
		Show: "qmail-remote also treats %s as one of my addresses.",
		None: "qmail-remote knows my addresses from my network interfaces only."},
	{Name: "morercpthosts", Kind: KindList, ReadBy: "qmail-newmrh",
		Desc: "More domains for rcpthosts, compiled by qmail-newmrh into morercpthosts.cdb.",
		Show: "qmail-smtpd also accepts mail for %s once qmail-newmrh has run.",
		None: "No more recipient hosts."},
	{Name: "morercpthosts.cdb", Kind: KindCDB, ReadBy: "qmail-smtpd qmail-qmtpd",
		Desc: "morercpthosts compiled by qmail-newmrh; qmail-smtpd and qmail-qmtpd look recipient domains up in it.",
		None: "No compiled morercpthosts."},
	{Name: "percenthack", Kind: KindList, ReadBy: "qmail-send",
		Desc: "Domains for which qmail-send turns user%elsewhere@domain into user@elsewhere.",
		Show: "qmail-send applies the percent hack to recipients at %s.",
		None: "qmail-send applies the percent hack to no domain."},
	{Name: "plusdomain", Kind: KindLine, Default: "plusdomain", Me: true, Env: "QMAILPLUSDOMAIN", ReadBy: "qmail-inject",
		Desc: "The domain qmail-inject puts in place of a + at the end of a host name.",
		Show: "qmail-inject replaces a + at the end of a host name with .%s."},
	{Name: "qmqpservers", Kind: KindList, ReadBy: "qmail-qmqpc",
		Desc: "IP addresses of the QMQP servers qmail-qmqpc hands messages to, tried in order.",
		Show: "qmail-qmqpc may hand messages to the QMQP server %s.",
		None: "No QMQP servers: qmail-qmqpc refuses to run."},
	{Name: "queuelifetime", Kind: KindInt, Default: "604800", ReadBy: "qmail-send",
		Desc: "How many seconds qmail-send keeps retrying a message before it bounces.",
		Show: "Messages stay in the queue for at most %s seconds."},
	{Name: "rcptcheck", Kind: KindInt, Default: "0", ReadBy: "qmail-smtpd",
		Desc: "goqmail's own: nonzero makes qmail-smtpd refuse unknown local recipients with 550, looking them up as delivery would.",
		Show: "qmail-smtpd checks local recipients at RCPT time when this is nonzero: %s."},
	{Name: "rcpthosts", Kind: KindList, ReadBy: "qmail-smtpd qmail-qmtpd",
		Desc: "The domains (dom, or .dom for its subdomains) qmail-smtpd accepts mail for from clients without RELAYCLIENT.",
		Show: "SMTP clients may send mail to recipients at %s.",
		None: "SMTP clients may send mail to recipients anywhere."},
	{Name: "remoteauth", Kind: KindSecret, ReadBy: "qmail-remote",
		Desc: "relay:user:password lines: credentials qmail-remote gives smart hosts with SMTP AUTH (readable by qmailr only).",
		Show: "qmail-remote authenticates to the relays listed there (the contents are not shown).",
		None: "qmail-remote never authenticates to a relay."},
	{Name: "servercert.pem", Kind: KindSecret, ReadBy: "qmail-smtpd",
		Desc: "The certificate and private key (PEM) qmail-smtpd offers STARTTLS with.",
		Show: "qmail-smtpd offers STARTTLS with this certificate (the contents are not shown).",
		None: "qmail-smtpd does not offer STARTTLS."},
	{Name: "smtpgreeting", Kind: KindLine, Me: true, Required: true, ReadBy: "qmail-smtpd",
		Desc: "The text of qmail-smtpd's 220 greeting.",
		Show: "qmail-smtpd greets with: 220 %s",
		None: "Not set: qmail-smtpd refuses to run without smtpgreeting or me."},
	{Name: "smtproutes", Kind: KindMap, ReadBy: "qmail-remote",
		Desc: "Routes (domain:relay[:port]) that qmail-remote uses instead of MX records.",
		Show: "SMTP route: %s.",
		None: "qmail-remote follows MX records for every domain."},
	{Name: "smtputf8", Kind: KindInt, Default: "0", ReadBy: "qmail-smtpd",
		Desc: "goqmail's own: nonzero makes qmail-smtpd announce SMTPUTF8 and accept 8-bit (UTF-8) addresses only from clients that ask for it.",
		Show: "qmail-smtpd's SMTPUTF8: %s (0 means off: 8-bit addresses pass unchecked, as in qmail)."},
	{Name: "timeoutconnect", Kind: KindInt, Default: "60", ReadBy: "qmail-remote",
		Desc: "How many seconds qmail-remote waits for an SMTP connection.",
		Show: "qmail-remote waits %s seconds for an SMTP connection."},
	{Name: "timeoutlocal", Kind: KindInt, Default: "0", ReadBy: "qmail-local",
		Desc: "goqmail's own: how many seconds a |program delivery may run before qmail-local kills it and defers (0: wait for ever, as qmail does).",
		Show: "qmail-local lets a |program delivery run for %s seconds (0 means no limit)."},
	{Name: "timeoutremote", Kind: KindInt, Default: "1200", ReadBy: "qmail-remote",
		Desc: "How many seconds qmail-remote waits for each reply or write.",
		Show: "qmail-remote waits %s seconds for each SMTP reply or write."},
	{Name: "timeoutsmtpd", Kind: KindInt, Default: "1200", ReadBy: "qmail-smtpd",
		Desc: "How many seconds qmail-smtpd waits for each command or write.",
		Show: "qmail-smtpd waits %s seconds for each command or write."},
	{Name: "tlsclientca", Kind: KindLine, ReadBy: "qmail-remote",
		Desc: "goqmail's own: PEM CA certificates qmail-remote trusts, besides the system's, for tlsdestinations entries marked verify.",
		Show: "qmail-remote also trusts the CA certificates in control/tlsclientca (first line: %s).",
		None: "qmail-remote trusts the system's CA certificates only."},
	{Name: "tlsdestinations", Kind: KindMap, ReadBy: "qmail-remote",
		Desc: "goqmail's own: STARTTLS policy per recipient domain (domain:try, :off, :require or :verify; .suffix and an empty or * domain as in smtproutes).",
		Show: "qmail-remote STARTTLS policy: %s.",
		None: "qmail-remote uses STARTTLS whenever a peer offers it, without checking certificates."},
	{Name: "virtualdomains", Kind: KindMap, ReadBy: "qmail-send",
		Desc: "Virtual users and domains ([user@]domain:prepend) that qmail-send hands to a local user.",
		Show: "Virtual domain: %s.",
		None: "No virtual domains."},
}

// LookupFile returns the description of the control file name.
func LookupFile(name string) (FileInfo, bool) {
	for _, f := range Files {
		if f.Name == name {
			return f, true
		}
	}
	return FileInfo{}, false
}

// Source says where a value in force comes from.
type Source int

const (
	// FromFile: the file exists and gave the value.
	FromFile Source = iota
	// FromMe: the file is missing and control/me gave the value.
	FromMe
	// FromDefault: the built-in default (also an empty integer file, as
	// in qmail, and a missing list or map file: no entries).
	FromDefault
	// NoValue: the file and control/me are missing and there is no
	// built-in default.
	NoValue
)

func (s Source) String() string {
	switch s {
	case FromFile:
		return "file"
	case FromMe:
		return "me"
	case FromDefault:
		return "default"
	case NoValue:
		return "none"
	}
	return "source(" + strconv.Itoa(int(s)) + ")"
}

// Value is the value in force for one control file.
type Value struct {
	Info   FileInfo
	Exists bool   // the file exists
	Source Source // where the value comes from
	Text   string // line and int files: the value (int: in decimal)
	Int    int    // int files
	Lines  []string
}

// Value returns the value in force for the control file name, by the
// rules of its row in Files. A file that exists but cannot be read, and
// an integer file that is not a decimal number, give an *Error (with the
// Info and Exists fields of the Value still set), never the default.
// Names not in Files are read as line files without default.
func (d *Dir) Value(name string) (Value, error) {
	info, ok := LookupFile(name)
	if !ok {
		info = FileInfo{Name: name, Kind: KindLine}
	}
	v := Value{Info: info}
	switch info.Kind {
	case KindCDB, KindSecret:
		exists, err := d.Readable(name)
		v.Exists = exists
		if err != nil {
			return v, err
		}
		if !exists {
			v.Source = NoValue
		}
		return v, nil
	case KindInt:
		def, err := strconv.Atoi(info.Default)
		if err != nil {
			return v, fmt.Errorf("control: bad default %q for %s", info.Default, name)
		}
		line, exists, err := d.Line(name)
		v.Exists = exists
		if err != nil {
			return v, err
		}
		n, err := d.Int(name, def)
		if err != nil {
			return v, err
		}
		v.Int, v.Text = n, strconv.Itoa(n)
		if !exists || line == "" {
			v.Source = FromDefault
		}
		return v, nil
	case KindList, KindMap:
		lines, exists, err := d.List(name)
		v.Exists = exists
		if err != nil {
			return v, err
		}
		v.Lines = lines
		if exists {
			return v, nil
		}
		v.Source = FromDefault
		if info.Me {
			me, meExists, err := d.meValue()
			if err != nil {
				return v, err
			}
			if meExists {
				v.Source, v.Lines = FromMe, []string{me}
			} else if info.Required {
				v.Source = NoValue
			}
		}
		return v, nil
	}
	line, exists, err := d.Line(name)
	v.Exists = exists
	if err != nil {
		return v, err
	}
	if exists {
		v.Text = line
		return v, nil
	}
	if info.Me {
		me, meExists, err := d.meValue()
		if err != nil {
			return v, err
		}
		if meExists {
			v.Source, v.Text = FromMe, me
			return v, nil
		}
	}
	if info.Default == "" {
		v.Source = NoValue
		return v, nil
	}
	v.Source, v.Text = FromDefault, info.Default
	return v, nil
}

// meValue returns control/me's first line and whether it exists.
func (d *Dir) meValue() (string, bool, error) {
	return d.Line("me")
}

// Readable reports whether a control file exists, and opens it to
// make sure it can be read (for files like morercpthosts.cdb that are
// read by someone else). A failure other than "does not exist" is an
// *Error.
func (d *Dir) Readable(name string) (bool, error) {
	f, err := os.Open(d.Path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, &Error{File: rel(name), Msg: "unable to read", Err: unwrapPath(err)}
	}
	f.Close()
	return true, nil
}
