/* proglog.i: the SWIG interface of the Java binding. It wraps proglog.h and nothing
 * else; the public Java API (package dev.proglog) is a thin hand-written layer over what
 * this generates, which stays package-private.
 *
 * What the typemaps below do, so the Java half reads like Java:
 * - Opaque handles (proglog_client*, ...) are `long`; an out-handle `T** out` is a `long[1]`
 *   the call fills. The hand-written classes own the handles and free each once.
 * - `proglog_error** err` is not a Java parameter: a failed call throws the matching
 *   dev.proglog.ProglogException (code, message, retryable, leader, written), built from
 *   the error object, which is freed before the call returns.
 * - `proglog_record** out` is a `Record[1]`: the record is copied into a dev.proglog.Record
 *   and freed at once.
 * - Byte values are `byte[]` (copied for the duration of the call: the C call may block,
 *   so the Java array cannot stay pinned); `uint64_t` is `long`; out offsets are `long[]`.
 * - The options structs are wrapped field by field, so each field the header appends gets
 *   its setter here; their strings are copied into storage owned by the struct object.
 * Only local JNI references are made, and each is deleted: no global reference exists. */
%module(jniclassname = "ProglogNativeJNI") ProglogNative

%include <stdint.i>
%include <enumtypeunsafe.swg>

/* Everything generated is package-private: the public API is the hand-written classes. */
%pragma(java) moduleclassmodifiers = "final class"
%pragma(java) jniclassclassmodifiers = "final class"
%pragma(java) jniclasscode = %{
  static {
    NativeLibrary.load();
  }
%}
%typemap(javaclassmodifiers) enum SWIGTYPE "final class"
%typemap(javaclassmodifiers) SWIGTYPE "final class"
%typemap(javaclassmodifiers) SWIGTYPE *, SWIGTYPE &, SWIGTYPE [] "final class"

%{
#include <cstdint>
#include <list>
#include <string>
#include <vector>

#include "proglog/proglog.h"

namespace proglog_jni {

/* Throws the dev.proglog.ProglogException for a failed call and frees `err`. Returns true
 * if the call failed (an exception is then pending), false if it succeeded. */
bool ThrowIfFailed(JNIEnv* env, int code, proglog_error* err) {
  if (code == PROGLOG_OK) {
    proglog_error_free(err);  // none is made on success; free one all the same
    return false;
  }
  const char* message = err != nullptr ? proglog_error_message(err) : proglog_code_name(code);
  const char* leader = err != nullptr ? proglog_error_leader(err) : nullptr;
  const jboolean retryable = err != nullptr && proglog_error_retryable(err) ? JNI_TRUE : JNI_FALSE;
  const jlong written = err != nullptr ? static_cast<jlong>(proglog_error_written(err)) : 0;
  jclass cls = env->FindClass("dev/proglog/ProglogException");
  if (cls != nullptr) {
    jmethodID factory = env->GetStaticMethodID(
        cls, "fromNative",
        "(ILjava/lang/String;ZLjava/lang/String;J)Ldev/proglog/ProglogException;");
    jstring jmessage = env->NewStringUTF(message);
    jstring jleader = leader != nullptr ? env->NewStringUTF(leader) : nullptr;
    if (factory != nullptr && jmessage != nullptr && !env->ExceptionCheck()) {
      jobject exception =
          env->CallStaticObjectMethod(cls, factory, code, jmessage, retryable, jleader, written);
      if (exception != nullptr && !env->ExceptionCheck()) {
        env->Throw(static_cast<jthrowable>(exception));
      }
      env->DeleteLocalRef(exception);
    }
    env->DeleteLocalRef(jleader);
    env->DeleteLocalRef(jmessage);
    env->DeleteLocalRef(cls);
  }
  // If any step above failed, its own exception (OutOfMemoryError, ...) is pending.
  proglog_error_free(err);
  return true;
}

/* Checks a holder array passed for an out-parameter: non-null, at least one element. */
bool CheckHolder(JNIEnv* env, jarray holder) {
  if (holder != nullptr && env->GetArrayLength(holder) >= 1) return true;
  SWIG_JavaThrowException(env, SWIG_JavaIllegalArgumentException, "out-parameter holder");
  return false;
}

/* Copies `record` into a new dev.proglog.Record at holder[0]; false if an exception is
 * pending. Does not free `record`. */
bool StoreRecord(JNIEnv* env, jobjectArray holder, const proglog_record* record) {
  size_t len = 0;
  const void* value = proglog_record_value(record, &len);
  bool stored = false;
  jbyteArray bytes = env->NewByteArray(static_cast<jsize>(len));
  jclass cls = bytes != nullptr ? env->FindClass("dev/proglog/Record") : nullptr;
  if (cls != nullptr) {
    env->SetByteArrayRegion(bytes, 0, static_cast<jsize>(len), static_cast<const jbyte*>(value));
    jmethodID ctor = env->GetMethodID(cls, "<init>", "(J[B)V");
    jobject object =
        ctor != nullptr
            ? env->NewObject(cls, ctor, static_cast<jlong>(proglog_record_offset(record)), bytes)
            : nullptr;
    if (object != nullptr) {
      env->SetObjectArrayElement(holder, 0, object);
      stored = !env->ExceptionCheck();
    }
    env->DeleteLocalRef(object);
    env->DeleteLocalRef(cls);
  }
  env->DeleteLocalRef(bytes);
  return stored;
}

/* Copies a Java byte[] (borrowed by the C call that follows). */
bool CopyBytes(JNIEnv* env, jbyteArray array, std::vector<jbyte>* out) {
  if (array == nullptr) {
    SWIG_JavaThrowException(env, SWIG_JavaNullPointerException, "null value");
    return false;
  }
  out->resize(static_cast<size_t>(env->GetArrayLength(array)));
  env->GetByteArrayRegion(array, 0, static_cast<jsize>(out->size()), out->data());
  return !env->ExceptionCheck();
}

/* An options struct together with the strings its pointer fields refer to. The struct is
 * the first member of a standard-layout type, so a pointer to it converts back. */
struct OwnedStrings {
  std::list<std::string> strings;                // stable addresses
  std::list<std::vector<const char*>> arrays;    // for `const char* const*` fields
};
template <class Options>
struct OwnedOptions {
  Options options{};
  OwnedStrings* owned = new OwnedStrings;
  OwnedOptions() = default;
  OwnedOptions(const OwnedOptions&) = delete;
  OwnedOptions& operator=(const OwnedOptions&) = delete;
  ~OwnedOptions() { delete owned; }
};

template <class Options>
OwnedStrings* StringsOf(Options* options) {
  return reinterpret_cast<OwnedOptions<Options>*>(options)->owned;
}

template <class Options>
const char* Keep(Options* options, const char* value) {
  if (value == nullptr) return nullptr;
  return StringsOf(options)->strings.emplace_back(value).c_str();
}

/* Copies a Java String[] into storage owned by `options`; sets `*field` and `*count`. */
template <class Options>
bool KeepArray(JNIEnv* env, Options* options, jobjectArray array, const char* const** field,
               size_t* count) {
  OwnedStrings* owned = StringsOf(options);
  std::vector<const char*>& pointers = owned->arrays.emplace_back();
  const jsize n = array != nullptr ? env->GetArrayLength(array) : 0;
  for (jsize i = 0; i < n; i++) {
    auto element = static_cast<jstring>(env->GetObjectArrayElement(array, i));
    if (element == nullptr) {
      SWIG_JavaThrowException(env, SWIG_JavaNullPointerException, "null string in array");
      return false;
    }
    const char* chars = env->GetStringUTFChars(element, nullptr);
    if (chars == nullptr) return false;  // OutOfMemoryError pending
    pointers.push_back(owned->strings.emplace_back(chars).c_str());
    env->ReleaseStringUTFChars(element, chars);
    env->DeleteLocalRef(element);
  }
  *field = pointers.empty() ? nullptr : pointers.data();
  *count = pointers.size();
  return true;
}

}  // namespace proglog_jni
%}

/* ---- Scalars ---- */
%apply int64_t { uint64_t };

/* ---- Opaque handles: `long` in Java ---- */
%define PROGLOG_HANDLE(TYPE)
%typemap(jni) TYPE*, const TYPE* "jlong"
%typemap(jtype) TYPE*, const TYPE* "long"
%typemap(jstype) TYPE*, const TYPE* "long"
%typemap(javain) TYPE*, const TYPE* "$javainput"
%typemap(javaout) TYPE*, const TYPE* { return $jnicall; }
%typemap(in) TYPE*, const TYPE* %{ $1 = reinterpret_cast<$1_ltype>(static_cast<intptr_t>($input)); %}
%typemap(out) TYPE*, const TYPE* %{ $result = static_cast<jlong>(reinterpret_cast<intptr_t>($1)); %}

%typemap(jni) TYPE** out "jlongArray"
%typemap(jtype) TYPE** out "long[]"
%typemap(jstype) TYPE** out "long[]"
%typemap(javain) TYPE** out "$javainput"
%typemap(in) TYPE** out ($*1_ltype handle = nullptr) %{
  if (!proglog_jni::CheckHolder(jenv, $input)) return $null;
  $1 = &handle;
%}
%typemap(argout) TYPE** out %{
  if (handle$argnum != nullptr) {
    const jlong value = static_cast<jlong>(reinterpret_cast<intptr_t>(handle$argnum));
    jenv->SetLongArrayRegion($input, 0, 1, &value);
  }
%}
%enddef

PROGLOG_HANDLE(proglog_node)
PROGLOG_HANDLE(proglog_client)
PROGLOG_HANDLE(proglog_subscription)
PROGLOG_HANDLE(proglog_server_list)

/* ---- Errors: thrown, never returned ---- */
%typemap(in, numinputs = 0) proglog_error** err (proglog_error* error = nullptr) %{ $1 = &error; %}
%typemap(argout) proglog_error** err %{
  if (proglog_jni::ThrowIfFailed(jenv, result, error$argnum)) return $null;
%}

/* ---- Records: a Record[1] holder ---- */
%typemap(jni) proglog_record** out "jobjectArray"
%typemap(jtype) proglog_record** out "Record[]"
%typemap(jstype) proglog_record** out "Record[]"
%typemap(javain) proglog_record** out "$javainput"
%typemap(in) proglog_record** out (proglog_record* record = nullptr) %{
  if (!proglog_jni::CheckHolder(jenv, $input)) return $null;
  $1 = &record;
%}
%typemap(argout) proglog_record** out %{
  if (record$argnum != nullptr) {
    const bool stored = proglog_jni::StoreRecord(jenv, $input, record$argnum);
    proglog_record_free(record$argnum);
    if (!stored) return $null;
  }
%}

/* ---- Offsets out: a long[] the call fills (one entry, or one per batch value) ---- */
%define PROGLOG_OFFSETS_OUT(NAME)
%typemap(jni) uint64_t* NAME "jlongArray"
%typemap(jtype) uint64_t* NAME "long[]"
%typemap(jstype) uint64_t* NAME "long[]"
%typemap(javain) uint64_t* NAME "$javainput"
%typemap(in) uint64_t* NAME (std::vector<uint64_t> offsets) %{
  if (!proglog_jni::CheckHolder(jenv, $input)) return $null;
  offsets.resize(static_cast<size_t>(jenv->GetArrayLength($input)));
  $1 = offsets.data();
%}
/* Copied back on failure too: a failed batch reports how many leading offsets are valid. */
%typemap(argout) uint64_t* NAME %{
  jenv->SetLongArrayRegion($input, 0, static_cast<jsize>(offsets$argnum.size()),
                           reinterpret_cast<const jlong*>(offsets$argnum.data()));
%}
%enddef
PROGLOG_OFFSETS_OUT(out_offset)
PROGLOG_OFFSETS_OUT(out_offsets)

/* ---- Byte values ---- */
%typemap(jni) (const void* value, size_t len) "jbyteArray"
%typemap(jtype) (const void* value, size_t len) "byte[]"
%typemap(jstype) (const void* value, size_t len) "byte[]"
%typemap(javain) (const void* value, size_t len) "$javainput"
%typemap(in) (const void* value, size_t len) (std::vector<jbyte> bytes) %{
  if (!proglog_jni::CopyBytes(jenv, $input, &bytes)) return $null;
  $1 = bytes.data();
  $2 = bytes.size();
%}

%typemap(jni) (const void* const* values, const size_t* lens, size_t count) "jobjectArray"
%typemap(jtype) (const void* const* values, const size_t* lens, size_t count) "byte[][]"
%typemap(jstype) (const void* const* values, const size_t* lens, size_t count) "byte[][]"
%typemap(javain) (const void* const* values, const size_t* lens, size_t count) "$javainput"
%typemap(in) (const void* const* values, const size_t* lens, size_t count)
    (std::vector<std::vector<jbyte>> copies, std::vector<void*> pointers,
     std::vector<size_t> sizes) %{
  if ($input == nullptr) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null values");
    return $null;
  }
  copies.resize(static_cast<size_t>(jenv->GetArrayLength($input)));
  for (size_t i = 0; i < copies.size(); i++) {
    auto element = static_cast<jbyteArray>(jenv->GetObjectArrayElement($input, static_cast<jsize>(i)));
    const bool copied = proglog_jni::CopyBytes(jenv, element, &copies[i]);
    jenv->DeleteLocalRef(element);
    if (!copied) return $null;
    pointers.push_back(copies[i].data());
    sizes.push_back(copies[i].size());
  }
  $1 = pointers.data();
  $2 = sizes.data();
  $3 = copies.size();
%}

/* ---- Options structs ---- */
/* A string field keeps a copy owned by the struct object (see OwnedOptions). `arg1` is the
 * struct in SWIG's generated setter. */
%typemap(memberin) const char* %{ $1 = proglog_jni::Keep(arg1, $input); %}

%define PROGLOG_OPTIONS(TYPE, JAVA_NAME)
%rename(JAVA_NAME) TYPE;
%extend TYPE {
  TYPE() { return &(new proglog_jni::OwnedOptions<TYPE>)->options; }
  ~TYPE() { delete reinterpret_cast<proglog_jni::OwnedOptions<TYPE>*>($self); }
}
%enddef
PROGLOG_OPTIONS(proglog_client_options, NativeClientOptions)
PROGLOG_OPTIONS(proglog_node_options, NativeNodeOptions)

/* The `const char* const*` + count pairs are set together, from a String[]. */
%typemap(jni) (JNIEnv* env, jobjectArray strings) "jobjectArray"
%typemap(jtype) (JNIEnv* env, jobjectArray strings) "String[]"
%typemap(jstype) (JNIEnv* env, jobjectArray strings) "String[]"
%typemap(javain) (JNIEnv* env, jobjectArray strings) "$javainput"
%typemap(in) (JNIEnv* env, jobjectArray strings) %{
  $1 = jenv;
  $2 = $input;
%}
%ignore proglog_client_options::addresses;
%ignore proglog_client_options::address_count;
%extend proglog_client_options {
  void setAddressList(JNIEnv* env, jobjectArray strings) {
    proglog_jni::KeepArray(env, $self, strings, &$self->addresses, &$self->address_count);
  }
}
%ignore proglog_node_options::start_join_addrs;
%ignore proglog_node_options::start_join_addr_count;
%extend proglog_node_options {
  void setStartJoinAddrList(JNIEnv* env, jobjectArray strings) {
    proglog_jni::KeepArray(env, $self, strings, &$self->start_join_addrs,
                           &$self->start_join_addr_count);
  }
}

/* The Java binding does not send a trace context yet; the string setters SWIG would write
 * for these keep their copy in OwnedOptions, which proglog_call_options is never made in. */
%ignore proglog_call_options::traceparent;
%ignore proglog_call_options::tracestate;

/* Records and errors never reach Java as handles (see the typemaps above). */
%ignore proglog_error_code;
%ignore proglog_error_message;
%ignore proglog_error_retryable;
%ignore proglog_error_leader;
%ignore proglog_error_written;
%ignore proglog_error_free;
%ignore proglog_record_value;
%ignore proglog_record_offset;
%ignore proglog_record_free;

/* The header's #define constants would land in a public constants interface; the option
 * versions come through this enum instead (package-private like the rest). */
%ignore PROGLOG_VERSION_MAJOR;
%ignore PROGLOG_VERSION_MINOR;
%ignore PROGLOG_VERSION_PATCH;
%ignore PROGLOG_NODE_OPTIONS_VERSION;
%ignore PROGLOG_CLIENT_OPTIONS_VERSION;
%ignore PROGLOG_CALL_OPTIONS_VERSION;

%include "proglog/proglog.h"

%inline %{
enum proglog_options_version {
  CLIENT_OPTIONS_VERSION = PROGLOG_CLIENT_OPTIONS_VERSION,
  NODE_OPTIONS_VERSION = PROGLOG_NODE_OPTIONS_VERSION
};
%}
