"""The support mailbox: IMAP in (imap.MailboxWatcher), SMTP out (smtp.SmtpNotifier), MIME parsing (parse)."""
