//! The kernel's sockets and its one event loop. Shell requests run one at
//! a time (queued while a cell runs); control requests (interrupt,
//! shutdown, kernel_info) are answered at once; the heartbeat echoes on its
//! own task. Every request is bracketed by busy/idle status on iopub.

use crate::connection::Connection;
use crate::history::History;
use crate::wire::{header, Message, Signer};
use crate::worker::{self, Event, Job, Worker};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};
use zeromq::{PubSocket, RepSocket, RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Channel {
    Shell,
    Control,
    Stdin,
}

enum Input {
    Request(Channel, ZmqMessage),
    Worker(Event),
}

pub fn kernel_info(language_version: &str) -> Value {
    json!({
        "status": "ok",
        "protocol_version": "5.3",
        "implementation": "monologue",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "rhai",
            "version": language_version,
            "mimetype": "text/x-rhai",
            "file_extension": ".rhai",
            "pygments_lexer": "rust",
            "codemirror_mode": "rust",
        },
        "banner": "Monologue: rhai cells over a Rust LLM engine. load_model(\"smollm2\"), then :help-style docs with Shift-Tab.",
        "help_links": [],
        "debugger": false,
    })
}

struct Kernel {
    signer: Signer,
    session: String,
    shell: zeromq::RouterSendHalf,
    control: zeromq::RouterSendHalf,
    iopub: PubSocket,
    worker: Worker,
    /// Shell requests waiting for the running cell to finish.
    queue: VecDeque<Message>,
    /// The shell request being worked on.
    running: Option<Message>,
    execution_count: u64,
    history: History,
    stdin: zeromq::RouterSendHalf,
    /// Where the answer to the running cell's `input()` goes, while the
    /// front end has not answered.
    waiting_input: Option<std::sync::mpsc::Sender<Result<String, String>>>,
}

pub async fn serve(connection: Connection, preload: Option<String>) -> Result<(), String> {
    fn err(what: &'static str) -> impl Fn(zeromq::ZmqError) -> String {
        move |e| format!("binding the {what} socket: {e}")
    }
    let mut shell = RouterSocket::new();
    shell
        .bind(&connection.endpoint(connection.shell_port))
        .await
        .map_err(err("shell"))?;
    let mut control = RouterSocket::new();
    control
        .bind(&connection.endpoint(connection.control_port))
        .await
        .map_err(err("control"))?;
    let mut iopub = PubSocket::new();
    iopub
        .bind(&connection.endpoint(connection.iopub_port))
        .await
        .map_err(err("iopub"))?;
    let mut stdin_socket = RouterSocket::new();
    stdin_socket
        .bind(&connection.endpoint(connection.stdin_port))
        .await
        .map_err(err("stdin"))?;
    let mut heartbeat = RepSocket::new();
    heartbeat
        .bind(&connection.endpoint(connection.hb_port))
        .await
        .map_err(err("heartbeat"))?;

    let (inputs, mut rx) = unbounded_channel::<Input>();
    tokio::spawn(async move {
        while let Ok(ping) = heartbeat.recv().await {
            if heartbeat.send(ping).await.is_err() {
                break;
            }
        }
    });
    let (shell_tx, shell_rx) = shell.split();
    let (control_tx, control_rx) = control.split();
    let (stdin_tx, stdin_rx) = stdin_socket.split();
    forward(shell_rx, Channel::Shell, inputs.clone());
    forward(control_rx, Channel::Control, inputs.clone());
    forward(stdin_rx, Channel::Stdin, inputs.clone());
    let (events, mut events_rx) = unbounded_channel::<Event>();
    let to_loop = inputs.clone();
    tokio::spawn(async move {
        while let Some(e) = events_rx.recv().await {
            if to_loop.send(Input::Worker(e)).is_err() {
                break;
            }
        }
    });

    let mut kernel = Kernel {
        signer: Signer::new(&connection.key),
        session: uuid::Uuid::new_v4().to_string(),
        shell: shell_tx,
        control: control_tx,
        iopub,
        worker: worker::spawn(events, preload),
        queue: VecDeque::new(),
        running: None,
        execution_count: 0,
        history: History::default(),
        stdin: stdin_tx,
        waiting_input: None,
    };
    kernel.status_without_parent("starting").await;
    while let Some(input) = rx.recv().await {
        let keep_going = match input {
            Input::Request(channel, frames) => kernel.request(channel, frames).await,
            Input::Worker(event) => {
                kernel.worker_event(event).await;
                true
            }
        };
        if !keep_going {
            break;
        }
        kernel.start_next().await;
    }
    Ok(())
}

/// Read a ROUTER half forever, handing each message to the loop.
fn forward(mut socket: zeromq::RouterRecvHalf, channel: Channel, inputs: UnboundedSender<Input>) {
    tokio::spawn(async move {
        while let Ok(frames) = socket.recv().await {
            if inputs.send(Input::Request(channel, frames)).is_err() {
                break;
            }
        }
    });
}

impl Kernel {
    /// Handle a request; false when the kernel should exit.
    async fn request(&mut self, channel: Channel, frames: ZmqMessage) -> bool {
        let message = match self.signer.decode(frames) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("monologue-kernel: dropped a {channel:?} message: {e}");
                return true;
            }
        };
        match (channel, message.msg_type()) {
            (_, "shutdown_request") => {
                self.status(&message, "busy").await;
                let restart = message.content["restart"].as_bool().unwrap_or(false);
                self.reply(
                    channel,
                    &message,
                    "shutdown_reply",
                    json!({"status": "ok", "restart": restart}),
                )
                .await;
                self.status(&message, "idle").await;
                false
            }
            (Channel::Stdin, "input_reply") => {
                match self.waiting_input.take() {
                    Some(answer) => {
                        let value = message.content["value"].as_str().unwrap_or("");
                        let _ = answer.send(Ok(value.to_string()));
                    }
                    None => eprintln!("monologue-kernel: an input_reply nobody asked for"),
                }
                true
            }
            (Channel::Stdin, other) => {
                eprintln!("monologue-kernel: ignored {other} on the stdin channel");
                true
            }
            (Channel::Control, "interrupt_request") => {
                self.worker.cancel.store(true, Ordering::Relaxed);
                // A cell waiting for input stops waiting.
                if let Some(answer) = self.waiting_input.take() {
                    let _ = answer.send(Err("interrupted while waiting for input".into()));
                }
                self.reply(
                    channel,
                    &message,
                    "interrupt_reply",
                    json!({"status": "ok"}),
                )
                .await;
                true
            }
            (Channel::Control, _) => {
                self.status(&message, "busy").await;
                self.immediate(channel, &message).await;
                self.status(&message, "idle").await;
                true
            }
            (Channel::Shell, _) => {
                self.queue.push_back(message);
                true
            }
        }
    }

    /// Requests answered without the session.
    async fn immediate(&mut self, channel: Channel, message: &Message) -> bool {
        let (msg_type, content) = match message.msg_type() {
            "kernel_info_request" => ("kernel_info_reply", kernel_info("1.27")),
            "comm_info_request" => ("comm_info_reply", json!({"status": "ok", "comms": {}})),
            "history_request" => ("history_reply", self.history.reply(&message.content)),
            "comm_open" => {
                // No comm targets exist: close the comm at once, as the
                // protocol asks, so the front end does not wait on it.
                let target = message.content["target_name"].as_str().unwrap_or("");
                eprintln!("monologue-kernel: no comm target {target:?}; closing the comm");
                let id = message.content["comm_id"].clone();
                self.publish(message, "comm_close", json!({"comm_id": id, "data": {}}))
                    .await;
                return true;
            }
            "comm_msg" | "comm_close" => return true,
            other => {
                eprintln!("monologue-kernel: no handler for {other}");
                let reply = other.replace("_request", "_reply");
                if reply == other {
                    return true;
                }
                let content = json!({"status": "error", "ename": "NotImplemented", "evalue": format!("{other} is not supported"), "traceback": []});
                self.reply(channel, message, &reply, content).await;
                return true;
            }
        };
        self.reply(channel, message, msg_type, content).await;
        true
    }

    /// Start the next queued shell request, if no cell is running.
    async fn start_next(&mut self) {
        while self.running.is_none() {
            let Some(message) = self.queue.pop_front() else {
                return;
            };
            self.status(&message, "busy").await;
            let code = message.content["code"].as_str().unwrap_or("").to_string();
            let cursor = message.content["cursor_pos"]
                .as_u64()
                .unwrap_or(code.chars().count() as u64) as usize;
            let job = match message.msg_type() {
                "execute_request" => {
                    let silent = message.content["silent"].as_bool().unwrap_or(false);
                    let store = message.content["store_history"]
                        .as_bool()
                        .unwrap_or(!silent);
                    if store && !silent {
                        self.execution_count += 1;
                        self.history.add(self.execution_count, &code);
                    }
                    let count = self.execution_count;
                    let allow_stdin = message.content["allow_stdin"].as_bool().unwrap_or(false);
                    if !silent {
                        self.publish(
                            &message,
                            "execute_input",
                            json!({"code": code, "execution_count": count}),
                        )
                        .await;
                    }
                    Job::Execute {
                        code,
                        silent,
                        count,
                        allow_stdin,
                    }
                }
                "complete_request" => Job::Complete { code, cursor },
                "inspect_request" => Job::Inspect { code, cursor },
                "is_complete_request" => Job::IsComplete { code },
                _ => {
                    self.immediate(Channel::Shell, &message).await;
                    self.status(&message, "idle").await;
                    continue;
                }
            };
            if self.worker.jobs.send(job).is_err() {
                eprintln!("monologue-kernel: the session thread is gone");
            }
            self.running = Some(message);
        }
    }

    async fn worker_event(&mut self, event: Event) {
        let Some(running) = self.running.clone() else {
            return;
        };
        match event {
            Event::Stream { name, text } => {
                self.publish(&running, "stream", json!({"name": name, "text": text}))
                    .await;
            }
            Event::Display { data, id, update } => {
                let mut content = crate::bundle::content(data);
                if let Some(id) = id {
                    content["transient"] = json!({ "display_id": id });
                }
                let kind = if update {
                    "update_display_data"
                } else {
                    "display_data"
                };
                self.publish(&running, kind, content).await;
            }
            Event::ExecuteResult { count, data } => {
                if let Some(text) = data["text/plain"].as_str() {
                    self.history.set_output(count, text);
                }
                let mut content = crate::bundle::content(data);
                content["execution_count"] = json!(count);
                self.publish(&running, "execute_result", content).await;
            }
            Event::Error { content } => {
                let c = json!({"ename": content["ename"], "evalue": content["evalue"], "traceback": content["traceback"]});
                self.publish(&running, "error", c).await;
            }
            Event::ClearOutput { wait } => {
                self.publish(&running, "clear_output", json!({ "wait": wait }))
                    .await;
            }
            Event::Input { prompt, answer } => {
                // Addressed like the request, so the front end that sent
                // the cell (and only it) is asked.
                let mut message = running.child(
                    "input_request",
                    json!({"prompt": prompt, "password": false}),
                    &self.session,
                );
                message.identities = running.identities.clone();
                if let Err(e) = self.stdin.send(self.signer.encode(&message)).await {
                    let _ = answer.send(Err(format!("asking the front end: {e}")));
                } else {
                    self.waiting_input = Some(answer);
                }
            }
            Event::Reply { msg_type, content } => {
                self.reply(Channel::Shell, &running, msg_type, content)
                    .await;
                self.status(&running, "idle").await;
                self.running = None;
            }
        }
    }

    async fn reply(&mut self, channel: Channel, request: &Message, msg_type: &str, content: Value) {
        let frames = self
            .signer
            .encode(&request.child(msg_type, content, &self.session));
        let sent = match channel {
            Channel::Shell => self.shell.send(frames).await,
            Channel::Control => self.control.send(frames).await,
            Channel::Stdin => self.stdin.send(frames).await,
        };
        if let Err(e) = sent {
            eprintln!("monologue-kernel: sending {msg_type}: {e}");
        }
    }

    async fn publish(&mut self, parent: &Message, msg_type: &str, content: Value) {
        let mut message = parent.child(msg_type, content, &self.session);
        message.identities = vec![bytes::Bytes::from(msg_type.to_string())];
        let frames = self.signer.encode(&message);
        if let Err(e) = self.iopub.send(frames).await {
            eprintln!("monologue-kernel: publishing {msg_type}: {e}");
        }
    }

    async fn status(&mut self, parent: &Message, state: &str) {
        self.publish(parent, "status", json!({"execution_state": state}))
            .await;
    }

    async fn status_without_parent(&mut self, state: &str) {
        let message = Message {
            identities: vec![bytes::Bytes::from_static(b"status")],
            header: header("status", &self.session),
            parent_header: json!({}),
            metadata: json!({}),
            content: json!({"execution_state": state}),
            buffers: Vec::new(),
        };
        let frames = self.signer.encode(&message);
        let _ = self.iopub.send(frames).await;
    }
}
