//! `.netrc` credentials, read as curl reads them: `machine NAME` entries
//! with `login` and `password`, a `default` entry for any other host,
//! `account` ignored, `macdef` bodies skipped to their blank line, `#`
//! comments, and values in double quotes with `\"`, `\\`, `\n`, `\r`,
//! `\t` escapes (curl 7.84 and later). A password goes only to the host
//! its entry names: see [`Netrc::for_host`].

/// One entry's credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Login {
    pub login: Option<String>,
    pub password: Option<String>,
}

impl Login {
    /// `user:password`, percent-encoded as URL user info writes it (for
    /// `credentials::basic_authorization`).
    pub fn userinfo(&self) -> String {
        let encode = |text: &str| {
            percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        };
        let login = self.login.as_deref().unwrap_or("");
        let password = self.password.as_deref().unwrap_or("");
        format!("{}:{}", encode(login), encode(password))
    }
}

/// The entries of a `.netrc` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Netrc {
    machines: Vec<(String, Login)>,
    default: Option<Login>,
}

impl Netrc {
    /// Parses the text of a `.netrc`; the error names the line that is wrong.
    pub fn parse(text: &str) -> Result<Netrc, String> {
        let mut netrc = Netrc::default();
        // Where the values of `login` and `password` go: the current entry.
        let mut current: Option<(Option<String>, Login)> = None;
        let mut tokens = Tokens::new(text);
        while let Some((line, token)) = tokens.next_token()? {
            match token.as_str() {
                "machine" | "default" => {
                    netrc.close(current.take());
                    let name = match token.as_str() {
                        "machine" => Some(tokens.value(line, "machine")?),
                        _ => None,
                    };
                    current = Some((name, Login::default()));
                }
                "login" | "password" | "account" => {
                    let value = tokens.value(line, &token)?;
                    let Some((_, login)) = current.as_mut() else {
                        return Err(format!("line {line}: `{token}` before any `machine`"));
                    };
                    match token.as_str() {
                        "login" => login.login = Some(value),
                        "password" => login.password = Some(value),
                        _ => {}
                    }
                }
                "macdef" => {
                    tokens.value(line, "macdef")?;
                    tokens.skip_macro();
                }
                other => return Err(format!("line {line}: unknown word `{other}`")),
            }
        }
        netrc.close(current);
        Ok(netrc)
    }

    fn close(&mut self, entry: Option<(Option<String>, Login)>) {
        match entry {
            Some((Some(machine), login)) => self.machines.push((machine, login)),
            // The first `default` counts, as curl reads it.
            Some((None, login)) if self.default.is_none() => self.default = Some(login),
            _ => {}
        }
    }

    /// The credentials for `host`: its own `machine` entry (the first,
    /// names compared without regard to case), else the `default` one when
    /// `default_allowed` (only for the host the user asked for, never a
    /// host a redirect leads to).
    pub fn for_host(&self, host: &str, default_allowed: bool) -> Option<&Login> {
        self.machines
            .iter()
            .find(|(machine, _)| machine.eq_ignore_ascii_case(host))
            .map(|(_, login)| login)
            .or(self.default.as_ref().filter(|_| default_allowed))
    }
}

/// The words of a `.netrc`, with the line each starts on.
struct Tokens<'a> {
    rest: &'a str,
    line: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str) -> Tokens<'a> {
        Tokens {
            rest: text,
            line: 1,
        }
    }

    fn next_token(&mut self) -> Result<Option<(usize, String)>, String> {
        loop {
            let trimmed = self.rest.trim_start_matches([' ', '\t']);
            self.rest = trimmed;
            match trimmed.chars().next() {
                None => return Ok(None),
                Some('\n') => self.advance(1),
                Some('\r') => self.advance(1),
                Some('#') => {
                    let end = trimmed.find('\n').unwrap_or(trimmed.len());
                    self.advance(end);
                }
                Some('"') => return self.quoted().map(|t| Some((self.line, t))),
                Some(_) => {
                    let end = trimmed
                        .find(|c: char| c.is_ascii_whitespace())
                        .unwrap_or(trimmed.len());
                    let word = trimmed[..end].to_string();
                    self.advance(end);
                    return Ok(Some((self.line, word)));
                }
            }
        }
    }

    fn advance(&mut self, bytes: usize) {
        self.line += self.rest[..bytes].matches('\n').count();
        self.rest = &self.rest[bytes..];
    }

    /// A value in double quotes, its escapes resolved.
    fn quoted(&mut self) -> Result<String, String> {
        let line = self.line;
        let mut value = String::new();
        let mut chars = self.rest[1..].char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '"' => {
                    self.advance(at + 2);
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, other)) => value.push(other),
                    None => break,
                },
                other => value.push(other),
            }
        }
        Err(format!("line {line}: a quoted value does not end"))
    }

    /// The value after `word`, on any line.
    fn value(&mut self, line: usize, word: &str) -> Result<String, String> {
        match self.next_token()? {
            Some((_, value)) => Ok(value),
            None => Err(format!("line {line}: `{word}` without a value")),
        }
    }

    /// A macro's body: the lines up to the next empty one.
    fn skip_macro(&mut self) {
        match self.rest.find("\n\n") {
            Some(end) => self.advance(end + 2),
            None => self.advance(self.rest.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(login: &str, password: &str) -> Login {
        Login {
            login: Some(login.into()),
            password: Some(password.into()),
        }
    }

    #[test]
    fn machines_and_default_are_read_as_curl_reads_them() {
        let text = "# mine\nmachine a.example login alice password \"p w\\\"d\"\n\
                    machine B.example\n  login bob\n  password s3cret account x\n\
                    macdef init\ncd /pub\nls\n\ndefault login anon password guest\n";
        let netrc = Netrc::parse(text).unwrap();
        assert_eq!(
            netrc.for_host("a.example", false),
            Some(&login("alice", "p w\"d"))
        );
        assert_eq!(
            netrc.for_host("b.EXAMPLE", false),
            Some(&login("bob", "s3cret"))
        );
        assert_eq!(netrc.for_host("c.example", false), None);
        assert_eq!(
            netrc.for_host("c.example", true),
            Some(&login("anon", "guest"))
        );
    }

    #[test]
    fn the_first_entry_for_a_machine_wins_and_one_line_holds_several() {
        let netrc =
            Netrc::parse("machine h login a password 1 machine h login b password 2").unwrap();
        assert_eq!(netrc.for_host("h", true), Some(&login("a", "1")));
    }

    #[test]
    fn mistakes_name_their_line() {
        assert_eq!(
            Netrc::parse("machine h\nlogin").unwrap_err(),
            "line 2: `login` without a value"
        );
        assert!(Netrc::parse("login x")
            .unwrap_err()
            .contains("before any `machine`"));
        assert!(Netrc::parse("machine h\n\nfoo x")
            .unwrap_err()
            .starts_with("line 3"));
        assert!(Netrc::parse("machine h password \"open").is_err());
    }

    #[test]
    fn userinfo_is_percent_encoded_for_basic_credentials() {
        let userinfo = login("a@b", "p:w d").userinfo();
        assert_eq!(userinfo, "a%40b:p%3Aw%20d");
        assert_eq!(
            crate::credentials::basic_authorization(&userinfo),
            crate::credentials::basic_authorization("a%40b:p%3Aw%20d")
        );
    }
}
