#include "tests/security/pki_fixture.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace proglog::security::testing {

ProgramResult RunProgram(const std::vector<std::string>& argv) {
  ProgramResult result;
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return result;
  // Built before fork: the child of a multi-threaded process (gRPC's) may
  // only call async-signal-safe functions, so no allocation there.
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(out[1], STDERR_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  if (pid < 0) {
    close(out[0]);
    result.output = "fork failed";
    return result;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof(buf))) > 0) {
    result.output.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

Pki::Pki(std::filesystem::path dir, std::string ca_cn) : dir_(std::move(dir)) {
  CaOptions options;
  options.out_dir = dir_;
  options.common_name = std::move(ca_cn);
  auto files = CreateCertificateAuthority(options);
  EXPECT_TRUE(files.ok()) << files.status();
}

TlsFiles Pki::Issue(TlsRole role, const std::string& cn, std::vector<std::string> hosts) {
  IssueOptions options;
  options.role = role;
  options.common_name = cn;
  options.hosts = std::move(hosts);
  return IssueWith(std::move(options));
}

TlsFiles Pki::IssueWith(IssueOptions options) {
  options.out_dir = dir_;
  auto files = IssueCertificate(options);
  EXPECT_TRUE(files.ok()) << files.status();
  if (!files.ok()) return {};
  return {files->cert_file, files->key_file, ca_file()};
}

OpensslCliPki::OpensslCliPki(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  ProgramResult ca =
      RunProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", (dir_ / "ca-key.pem").string(), "-out",
                  (dir_ / "ca.pem").string(), "-days", "30", "-subj", "/CN=openssl test CA"});
  EXPECT_EQ(ca.exit_code, 0) << ca.output;
}

TlsFiles OpensslCliPki::Issue(const std::string& stem, const std::string& cn,
                              const std::string& eku, const std::string& san) {
  std::filesystem::path key = dir_ / (stem + "-key.pem");
  std::filesystem::path cert = dir_ / (stem + ".pem");
  std::filesystem::path csr = dir_ / (stem + ".csr");
  std::filesystem::path ext = dir_ / (stem + ".ext");
  ProgramResult req =
      RunProgram({"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", key.string(), "-out", csr.string(), "-subj", "/CN=" + cn});
  EXPECT_EQ(req.exit_code, 0) << req.output;
  std::string extensions = "extendedKeyUsage=" + eku + "\n";
  if (!san.empty()) extensions += "subjectAltName=" + san + "\n";
  WriteFile(ext, extensions);
  ProgramResult sign =
      RunProgram({"openssl", "x509", "-req", "-in", csr.string(), "-CA", ca_file().string(),
                  "-CAkey", (dir_ / "ca-key.pem").string(), "-CAcreateserial", "-days", "30",
                  "-out", cert.string(), "-extfile", ext.string()});
  EXPECT_EQ(sign.exit_code, 0) << sign.output;
  return {cert, key, ca_file()};
}

TlsFiles SelfSignedByOpensslCli(const std::filesystem::path& dir, const std::string& stem,
                                const std::string& cn) {
  std::filesystem::path key = dir / (stem + "-key.pem");
  std::filesystem::path cert = dir / (stem + ".pem");
  ProgramResult made =
      RunProgram({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-nodes", "-keyout", key.string(), "-out", cert.string(), "-days", "30", "-subj",
                  "/CN=" + cn, "-addext", "extendedKeyUsage=clientAuth,serverAuth"});
  EXPECT_EQ(made.exit_code, 0) << made.output;
  return {cert, key, cert};
}

}  // namespace proglog::security::testing
