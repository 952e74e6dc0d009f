//! The REPL's own commands, which start with `:`.

pub enum Command {
    /// `:help [name]`
    Help(Option<String>),
    /// `:load file.rhai`: run a script file in this session.
    Load(String),
    /// `:time`: toggle printing each input's wall time.
    Time,
    /// `:profile`: toggle the per-kernel table after each input.
    Profile,
    /// `:vars`: the variables defined so far.
    Vars,
    /// `:quit` or `:exit`.
    Quit,
}

impl Command {
    pub fn parse(input: &str) -> Result<Command, String> {
        let (name, arg) = match input.split_once(char::is_whitespace) {
            Some((n, a)) => (n, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
            None => (input, None),
        };
        match (name, arg) {
            (":help" | ":h", arg) => Ok(Command::Help(arg)),
            (":load", Some(path)) => Ok(Command::Load(path)),
            (":load", None) => Err(":load needs a file: :load script.rhai".into()),
            (":time", None) => Ok(Command::Time),
            (":profile", None) => Ok(Command::Profile),
            (":vars", None) => Ok(Command::Vars),
            (":quit" | ":exit" | ":q", None) => Ok(Command::Quit),
            (other, _) => Err(format!(
                "unknown command {other} (commands: :help [name], :load FILE, :time, :profile, :vars, :quit)"
            )),
        }
    }
}
