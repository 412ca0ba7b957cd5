/**
 * The shell integration scripts the agent installs (see shell-integration.ts). They are plain strings so
 * that the single-executable build carries them too.
 *
 * Every mark is an OSC 133 sequence ended by BEL and carrying the session nonce as `n=<nonce>`:
 *
 *   ESC ] 133 ; A ; n=<nonce> [; cmd=1] [; s=<seq>] BEL   prompt start (cmd=1: C marks follow; bash, zsh)
 *   ESC ] 133 ; B ; n=<nonce> BEL                      prompt end (where the user types; best effort)
 *   ESC ] 133 ; C ; n=<nonce> [; s=<seq>] ; cmdline=<esc> [; partial=1] [; late=1] BEL   a line runs
 *   ESC ] 133 ; D ; <exit status> ; n=<nonce> [; s=<seq>] BEL   it finished
 *
 * `s` (bash, zsh) counts the A, C and D marks the shell sent: a persistent terminal's replay after a
 * re-attach repeats marks the gateway already handled, and it skips those by their number.
 *
 * `<esc>` is the command line with `\` written `\\`, `;` written `\x3b` and every control character
 * (0x01-0x1f, 0x7f) written `\xHH`, so the mark never contains BEL, ESC or a bare `;`. At most 4096
 * characters of the line are sent. `partial=1`: bash could not read the whole line from its history
 * (history off, or the line was not saved: a leading space with ignorespace, a duplicate with
 * ignoredups) and sent only the first simple command (BASH_COMMAND). `late=1`: the line ran no simple
 * command in the shell itself (bash: a lone `( subshell )`, which fires no DEBUG trap), so its C comes
 * only when it is over, right before its D: the duration is not known.
 *
 * The nonce arrives in CORRAL_SHELL_NONCE, which each script moves into a shell variable and unsets
 * before any of the user's own startup files run, so programs started from the shell do not inherit it.
 */

/** bash, started as `bash --rcfile <this> -i` (bash honours --rcfile only for non-login shells). */
export const BASH_SCRIPT = String.raw`# Corral shell integration for bash. Written by corral-agent; do not edit (it is rewritten at each start).
# 1. Read the startup files a login bash reads: /etc/profile, then the first of ~/.bash_profile,
#    ~/.bash_login, ~/.profile (on Debian these read /etc/bash.bashrc and ~/.bashrc in turn).
# 2. Add OSC 133 marks carrying the session nonce: A at each prompt, C with the command line before
#    it runs, D with its exit status once it is done.
__corral_nonce=${'$'}{CORRAL_SHELL_NONCE-}
builtin unset CORRAL_SHELL_NONCE
if [ -r /etc/profile ]; then . /etc/profile; fi
if [ -r ~/.bash_profile ]; then . ~/.bash_profile
elif [ -r ~/.bash_login ]; then . ~/.bash_login
elif [ -r ~/.profile ]; then . ~/.profile
fi
# What a login shell does at its end, and its logout builtin (this shell is not a login shell).
if [ -z "$(builtin trap -p EXIT)" ]; then builtin trap '[ -r ~/.bash_logout ] && . ~/.bash_logout' EXIT; fi
logout() { builtin exit "$@"; }

if [[ -n $__corral_nonce && $- == *i* && -z ${'$'}{__corral_hooked-} ]]; then
  __corral_hooked=1
  __corral_running=0
  __corral_seq=0
  __corral_armed=0
  __corral_histno=
  __corral_ps0=
  __corral_ctl=()
  __corral_hex=()
  for __corral_i in {1..31} 127; do
    builtin printf -v __corral_h '%02x' "$__corral_i"
    builtin printf -v __corral_c "\\x$__corral_h"
    __corral_ctl+=("$__corral_c")
    __corral_hex+=("\\x$__corral_h")
  done
  builtin unset __corral_i __corral_h __corral_c
  __corral_b="\[\e]133;B;n=$__corral_nonce\a\]"

  # Escape $1 for a mark into __corral_out (see the escaping rules in the agent's shell-scripts.ts).
  __corral_escape() {
    local s=${'$'}{1:0:4096} bs='\' semi='\x3b' i
    s=${'$'}{s//"$bs"/"$bs$bs"}
    s=${'$'}{s//;/"$semi"}
    if [[ $s == *[[:cntrl:]]* ]]; then
      for i in "${'$'}{!__corral_ctl[@]}"; do s=${'$'}{s//"${'$'}{__corral_ctl[i]}"/"${'$'}{__corral_hex[i]}"}; done
    fi
    __corral_out=$s
  }

  # The line just read, into __corral_line: whole from the history when it went there (it got the
  # number the prompt expected: HISTCMD minus $2 equals it), else $1 (BASH_COMMAND, the first simple
  # command) with partial=1.
  __corral_read_line() {
    if [[ -o history && -n $__corral_histno ]] && ((HISTCMD - $2 == __corral_histno)); then
      __corral_line=$(HISTTIMEFORMAT= builtin history 1)
      __corral_line=${'$'}{__corral_line#"${'$'}{__corral_line%%[![:space:]]*}"}
      __corral_line=${'$'}{__corral_line#"${'$'}{__corral_line%%[!0-9]*}"}
      __corral_line=${'$'}{__corral_line:2}
      __corral_partial=
    else
      __corral_line=$1
      __corral_partial=';partial=1'
    fi
  }

  # First in PROMPT_COMMAND: D for the command that just ended, then A. Keeps $? for what follows.
  __corral_precmd() {
    local ec=$?
    if [[ $__corral_armed == 1 && -n $__corral_ps0 ]]; then
      # A line ran without a single DEBUG trap (only a ( subshell )): its C comes now, marked late.
      __corral_armed=0
      __corral_read_line '' 1
      if [[ -z $__corral_partial ]]; then
        __corral_escape "$__corral_line"
        builtin printf '\e]133;C;n=%s;s=%s;cmdline=%s;late=1\a' "$__corral_nonce" "$((++__corral_seq))" "$__corral_out"
        __corral_running=1
      fi
    fi
    if [[ $__corral_running == 1 ]]; then
      __corral_running=0
      builtin printf '\e]133;D;%s;n=%s;s=%s\a' "$ec" "$__corral_nonce" "$((++__corral_seq))"
    fi
    __corral_histno=$HISTCMD
    builtin printf '\e]133;A;n=%s;cmd=1;s=%s\a' "$__corral_nonce" "$((++__corral_seq))"
    [[ $PS1 == *"$__corral_b" ]] || PS1="$PS1$__corral_b"
    return "$ec"
  }

  # The DEBUG trap: the first simple command after a line was read (PS0 armed us) emits C.
  __corral_preexec() {
    [[ $__corral_armed == 1 ]] || return 0
    [[ $BASH_COMMAND == __corral_precmd* ]] && return 0
    __corral_armed=0
    __corral_read_line "$BASH_COMMAND" 0
    __corral_escape "$__corral_line"
    __corral_running=1
    builtin printf '\e]133;C;n=%s;s=%s;cmdline=%s%s\a' "$__corral_nonce" "$((++__corral_seq))" "$__corral_out" "$__corral_partial"
  }

  if ((BASH_VERSINFO[0] > 5 || (BASH_VERSINFO[0] == 5 && BASH_VERSINFO[1] >= 1))); then
    PROMPT_COMMAND=(__corral_precmd "${'$'}{PROMPT_COMMAND[@]}")
  else
    PROMPT_COMMAND="__corral_precmd${'$'}{PROMPT_COMMAND:+
$PROMPT_COMMAND}"
  fi
  if ((BASH_VERSINFO[0] > 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] >= 4))); then
    # PS0 is expanded once per command line read, never for an empty line or PROMPT_COMMAND; the
    # arithmetic in the subscript arms the DEBUG trap and the expansion itself prints nothing.
    PS0="${'$'}{PS0-}"'${'$'}{__corral_z[$((__corral_armed=1))]-}'
    __corral_ps0=1
  else
    PROMPT_COMMAND="$PROMPT_COMMAND
__corral_armed=1"
  fi
  # Chain after a DEBUG trap the user's files set (bash-preexec and the like).
  __corral_dbg=$(builtin trap -p DEBUG)
  if [[ -n $__corral_dbg ]]; then
    __corral_dbg=${'$'}{__corral_dbg#trap -- }
    __corral_dbg=${'$'}{__corral_dbg% DEBUG}
    builtin eval "__corral_dbg=$__corral_dbg"
    builtin trap "$__corral_dbg"'
__corral_preexec' DEBUG
  else
    builtin trap '__corral_preexec' DEBUG
  fi
  builtin unset __corral_dbg
fi
`;

/**
 * zsh: ZDOTDIR points at a directory holding only this `.zshenv`. It hands ZDOTDIR back (unset, so
 * zsh reads the user's ~/.zprofile, ~/.zshrc, ~/.zlogin as usual, and children inherit nothing),
 * sources the user's ~/.zshenv, and in interactive shells adds precmd/preexec hooks.
 */
export const ZSH_ENV_SCRIPT = String.raw`# Corral shell integration for zsh. Written by corral-agent; do not edit.
typeset -g __corral_nonce=${'$'}{CORRAL_SHELL_NONCE-}
unset CORRAL_SHELL_NONCE
typeset -g __corral_dir=${'$'}{ZDOTDIR-}
unset ZDOTDIR
[[ -r $HOME/.zshenv ]] && builtin source $HOME/.zshenv
if [[ -o interactive && -n $__corral_nonce && -r $__corral_dir/corral.zsh ]]; then
  builtin source $__corral_dir/corral.zsh
fi
`;

/** The hooks for zsh, sourced by ZSH_ENV_SCRIPT. */
export const ZSH_HOOKS_SCRIPT = String.raw`# Corral shell integration for zsh: OSC 133 marks. Written by corral-agent; do not edit.
typeset -gi __corral_running=0 __corral_seq=0
typeset -ga __corral_ctl __corral_hex
() {
  local i h c
  for i in {1..31} 127; do
    builtin printf -v h '%02x' $i
    builtin printf -v c "\\x$h"
    __corral_ctl+=("$c")
    __corral_hex+=("\\x$h")
  done
}
typeset -g __corral_b="%{"$'\e'"]133;B;n=$__corral_nonce"$'\a'"%}"

__corral_escape() {
  emulate -L zsh
  local s=${'$'}{1[1,4096]} bs='\' semi='\x3b' i
  s=${'$'}{s//$bs/$bs$bs}
  s=${'$'}{s//;/$semi}
  if [[ $s == *[[:cntrl:]]* ]]; then
    for i in {1..${'$'}{#__corral_ctl}}; do s=${'$'}{s//${'$'}{__corral_ctl[i]}/${'$'}{__corral_hex[i]}}; done
  fi
  typeset -g __corral_out=$s
}

__corral_precmd() {
  local ec=$?
  if (( __corral_running )); then
    __corral_running=0
    builtin printf '\e]133;D;%s;n=%s;s=%s\a' $ec $__corral_nonce $((++__corral_seq))
  fi
  builtin printf '\e]133;A;n=%s;cmd=1;s=%s\a' $__corral_nonce $((++__corral_seq))
  [[ $PS1 == *"$__corral_b" ]] || PS1="$PS1$__corral_b"
  return $ec
}

# $1 is the line as typed (even one kept out of the history); $3 the line with aliases expanded.
__corral_preexec() {
  __corral_escape "${'$'}{1:-$3}"
  __corral_running=1
  builtin printf '\e]133;C;n=%s;s=%s;cmdline=%s\a' $__corral_nonce $((++__corral_seq)) $__corral_out
}

typeset -ga precmd_functions preexec_functions
precmd_functions=(__corral_precmd ${'$'}{precmd_functions:#__corral_precmd})
preexec_functions=(${'$'}{preexec_functions:#__corral_preexec} __corral_preexec)
`;

/**
 * POSIX sh (dash, ash, bash as sh), read through ENV by interactive shells: prompt marks only (no
 * hook runs before a command), so the gateway keeps reconstructing command lines from keystrokes.
 */
export const SH_SCRIPT = String.raw`# Corral shell integration for POSIX sh: prompt marks only. Written by corral-agent; do not edit.
__corral_nonce=${'$'}{CORRAL_SHELL_NONCE-}
unset CORRAL_SHELL_NONCE ENV
case $- in
*i*)
  if [ -n "$__corral_nonce" ]; then
    __corral_o= __corral_c=
    # bash as sh counts prompt columns with readline: wrap the invisible marks in \[ \].
    if [ -n "${'$'}{BASH_VERSION-}" ]; then __corral_o='\[' __corral_c='\]'; fi
    PS1="$__corral_o$(printf '\033]133;D;')"'$?'"$(printf ';n=%s\007\033]133;A;n=%s\007' "$__corral_nonce" "$__corral_nonce")$__corral_c${'$'}{PS1-\$ }$__corral_o$(printf '\033]133;B;n=%s\007' "$__corral_nonce")$__corral_c"
    unset __corral_o __corral_c
  fi
  ;;
esac
`;
