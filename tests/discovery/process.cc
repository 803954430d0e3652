#include "tests/discovery/process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>

namespace proglog::discovery::testing {

std::unique_ptr<Process> Process::Start(const std::vector<std::string>& argv,
                                        const std::string& log_path) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return nullptr;
  pid_t pid = fork();
  if (pid < 0) return nullptr;
  if (pid == 0) {
    dup2(in[0], 0);
    if (!log_path.empty()) {
      int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
    } else {
      dup2(out[1], 1);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  auto p = std::make_unique<Process>();
  p->pid_ = pid;
  p->in_ = in[1];
  p->out_ = out[0];
  return p;
}

Process::~Process() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (in_ >= 0) close(in_);
  if (out_ >= 0) close(out_);
}

void Process::Write(const std::string& line) {
  std::string data = line + "\n";
  ssize_t n = write(in_, data.data(), data.size());
  (void)n;
}

std::optional<std::string> Process::ReadLine(absl::Time deadline) {
  for (;;) {
    size_t nl = buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      lines_.push_back(line);
      return line;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return std::nullopt;
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) <= 0) continue;
    char chunk[4096];
    ssize_t n = read(out_, chunk, sizeof(chunk));
    if (n <= 0) return std::nullopt;
    buf_.append(chunk, n);
  }
}

std::optional<std::string> Process::WaitForLine(const std::string& prefix, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (auto line = ReadLine(deadline)) {
    if (line->rfind(prefix, 0) == 0) return line;
  }
  return std::nullopt;
}

void Process::Kill(int sig) { kill(pid_, sig); }

int Process::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      return status;
    }
    poll(nullptr, 0, 20);  // bounded wait for the child to exit
  }
  return -1;
}

bool PollUntil(absl::Duration timeout, const std::function<bool()>& cond) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (absl::Now() >= deadline) return false;
    poll(nullptr, 0, 100);
  }
}

std::string RunCommand(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(popen(cmd.c_str(), "r"), pclose);
  if (!f) return "";
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), f.get())) > 0) out.append(buf.data(), n);
  return out;
}

}  // namespace proglog::discovery::testing
